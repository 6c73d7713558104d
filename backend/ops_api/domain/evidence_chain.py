"""The signed chain of the job's own records, as plain Python: canonical bytes, digests, seals and verification.

One chain runs across both kinds of record the job writes, its run records
(``job_run``) and its e-mail records (``email_record``), in the order they
were written: each record holds its *position* (``chain_seq``, 1, 2, 3, ...
across both tables), a *link* to the record before it, and a *seal* over its
own content.

**Canonical bytes.** A record's content is the mapping of its column names to
values, plus ``"kind"`` (its table's name). Its canonical bytes are that
mapping as JSON, UTF-8, keys sorted at every depth, no blanks
(``separators=(",", ":")``), non-ASCII text kept as is. Values are normalised
first: a datetime becomes UTC ISO 8601 with microseconds and a ``Z``
(``2026-12-04T20:38:14.000000Z``), an enum its member name, a tuple a list;
``None``, booleans, integers, finite floats, strings, lists and mappings with
string keys are JSON's own. Anything else is refused, so no value ever reaches
the bytes through ``str()`` by accident.

**The link.** The *link digest* of a record is the SHA-256 of the canonical
bytes of its header alone: kind, id, position, the link digest it holds of
the record before it (``chain_prev``, 64 zeros for the first) and that
record's name (``chain_prev_record``, e.g. ``job_run:12``). The header never
changes once written, so the job may complete a record (a run that ends, a
message handed over) without breaking the link the next record holds; a
change of the content is caught by the record's own seal instead.

**The seal.** ``chain_seal`` is the HMAC-SHA256, under the evidence key, of
the canonical bytes of the whole record (header and content, the key id
included, the seal itself left out); ``chain_key_id`` is the first 8 hex
digits of the SHA-256 of the key, so a record sealed under a key since
replaced still verifies while that key is listed among the previous keys.
Without a key (development only) the seal is the plain SHA-256 of the same
bytes and the key id is empty: the chain still catches an accidental change,
but anyone can recompute it, and verification says "unsigned".

**Events.** A run record names, for each user it disabled, the ``ops_event``
id and the SHA-256 of the canonical bytes of that ``UPDATE_USER`` event's row
(:func:`event_digest`); deleting or editing the event is then a broken link too.

Verification (:func:`verify_chain`) walks the positions in order and names
the first record where the chain breaks, and every later break:

* **deleted**: a position nobody holds; the record after it names the
  missing record (``chain_prev_record``);
* **edited**: a record in its place whose seal no longer matches its content
  under a configured key, or whose header no longer matches the link the
  next record holds; for an event, a row whose digest changed;
* **inserted**: a record with no place in the chain (no position), one that
  takes a place another record holds with a valid seal, one sealed under a key
  that is not configured or unsigned after signed records, or one that neither
  verifies nor links to the chain after a gap.

A seal that does not verify cannot tell an edit from a forgery for certain;
the classes above say what the evidence most plainly shows, and every break
names the record. Deleting the newest record of all cannot be seen until a
later record links past it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# The link a first record holds: there is no record before it.
GENESIS = "0" * 64
FIRST_POSITION = 1  # the position of the chain's first record, which links to GENESIS
KIND_RUN = "job_run"
KIND_EMAIL = "email_record"
KINDS = (KIND_RUN, KIND_EMAIL)
# The columns of a record that belong to the chain rather than to its content.
CHAIN_COLUMNS = ("chain_seq", "chain_prev", "chain_prev_record", "chain_key_id", "chain_seal")
KEY_ID_LENGTH = 8

DELETED = "deleted"
EDITED = "edited"
INSERTED = "inserted"


class CanonicalError(ValueError):
    """A value that has no canonical form (a type the chain does not know, a float that is not finite)."""


# -- canonical bytes and digests ------------------------------------------------


def canonical_value(value: Any) -> Any:
    """``value`` as the plain JSON value its canonical bytes hold (see the module's docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"a float that is not finite has no canonical form: {value!r}")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CanonicalError("a naive datetime has no canonical form: the chain's times are UTC")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"a mapping key must be text, got {type(key).__name__}")
            out[key] = canonical_value(item)
        return out
    if isinstance(value, (list, tuple)):
        return [canonical_value(item) for item in value]
    raise CanonicalError(f"a {type(value).__name__} has no canonical form")


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """Sorted-key compact JSON of ``fields`` after :func:`canonical_value`, as UTF-8."""
    return json.dumps(
        canonical_value(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_name(kind: str, record_id: int) -> str:
    """How the chain names a record: ``job_run:12``."""
    return f"{kind}:{record_id}"


def link_digest(kind: str, record_id: int, seq: int, prev: str, prev_record: str | None) -> str:
    """The SHA-256 of a record's header: what the next record holds as ``chain_prev``."""
    return sha256_hex(
        canonical_bytes({"kind": kind, "id": record_id, "chain_seq": seq, "chain_prev": prev, "chain_prev_record": prev_record})
    )


def event_digest(event: Mapping[str, Any]) -> str:
    """The SHA-256 of an ``ops_event`` row's canonical bytes (its id, type, status, details and audit columns)."""
    return sha256_hex(canonical_bytes(event))


# -- keys ------------------------------------------------------------------------


def key_id_of(key: bytes) -> str:
    """The first 8 hex digits of the SHA-256 of ``key``: stored with each record, never the key itself."""
    return sha256_hex(key)[:KEY_ID_LENGTH]


@dataclass(frozen=True)
class EvidenceKeys:
    """The key that seals new records, and the keys that still verify older ones. Their text never shows in a repr."""

    current: bytes | None = field(default=None, repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, current: str | None, previous: Iterable[str] = ()) -> EvidenceKeys:
        return cls(
            current=current.encode("utf-8") if current else None,
            previous=tuple(key.encode("utf-8") for key in previous if key),
        )

    @property
    def signed(self) -> bool:
        return self.current is not None

    @property
    def current_id(self) -> str | None:
        return key_id_of(self.current) if self.current is not None else None

    def verifying(self) -> dict[str, bytes]:
        """Every key that verifies, by key id (the current one last, so it wins a collision)."""
        keys = {key_id_of(key): key for key in self.previous}
        if self.current is not None:
            keys[key_id_of(self.current)] = self.current
        return keys

    def __repr__(self) -> str:
        return f"EvidenceKeys(current={self.current_id}, previous={[key_id_of(k) for k in self.previous]})"


UNSIGNED = EvidenceKeys()


def seal(keys: EvidenceKeys, fields: Mapping[str, Any]) -> tuple[str | None, str]:
    """The key id and seal of a record whose content (header included, seal and key id left out) is ``fields``."""
    key_id = keys.current_id
    data = canonical_bytes({**fields, "chain_key_id": key_id})
    if keys.current is None:
        return None, sha256_hex(data)
    return key_id, hmac.new(keys.current, data, hashlib.sha256).hexdigest()


class SealCheck(enum.Enum):
    SIGNED = "signed"  # an HMAC under a configured key
    UNSIGNED = "unsigned"  # a plain SHA-256 that matches
    INVALID = "invalid"  # it does not match what the record holds
    UNKNOWN_KEY = "unknown_key"  # sealed under a key that is not configured
    UNSIGNED_AFTER_SIGNED = "unsigned_after_signed"  # (verify_chain only) unsigned, after a signed record


def check_seal(keys: EvidenceKeys, fields: Mapping[str, Any], key_id: str | None, stored: str | None) -> SealCheck:
    """Whether ``stored`` is the seal of ``fields`` (seal and key id left out) under ``key_id``."""
    if stored is None:
        return SealCheck.INVALID
    data = canonical_bytes({**fields, "chain_key_id": key_id})
    if key_id is None:
        return SealCheck.UNSIGNED if hmac.compare_digest(sha256_hex(data), stored) else SealCheck.INVALID
    key = keys.verifying().get(key_id)
    if key is None:
        return SealCheck.UNKNOWN_KEY
    expected = hmac.new(key, data, hashlib.sha256).hexdigest()
    return SealCheck.SIGNED if hmac.compare_digest(expected, stored) else SealCheck.INVALID


# -- verification ------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEntry:
    """One chained record as read back: its header, its seal and the content the seal covers."""

    kind: str
    record_id: int
    seq: int
    prev: str | None
    prev_record: str | None
    key_id: str | None
    seal: str | None
    at: datetime  # when it was written: a run's start, a message's creation
    content: Mapping[str, Any]  # every column but chain_key_id and chain_seal, plus "kind"

    @property
    def name(self) -> str:
        return record_name(self.kind, self.record_id)

    @property
    def link(self) -> str:
        return link_digest(self.kind, self.record_id, self.seq, self.prev or "", self.prev_record)


@dataclass(frozen=True)
class Unchained:
    """A record with no place in the chain: older than the chain, or put there by someone else."""

    kind: str
    record_id: int
    at: datetime
    before_chain: bool


@dataclass(frozen=True)
class EventCheck:
    """An ``UPDATE_USER`` event a run record names, and what the database holds for it now."""

    run: str  # the run record's name
    event_id: int
    user_id: int | None
    expected: str
    found: str | None  # the digest of the row as it is now; None: no such row


@dataclass(frozen=True)
class Break:
    """A place where the chain does not hold: which record, and whether it was deleted, edited or inserted."""

    what: str  # DELETED, EDITED or INSERTED
    kind: str  # job_run, email_record or ops_event
    record_id: int | None  # None: a deleted record the chain cannot name
    position: int | None
    detail: str

    @property
    def record(self) -> str:
        return f"{self.kind} {self.record_id}" if self.record_id is not None else f"the {self.kind or 'record'} at position {self.position}"

    def describe(self) -> str:
        return f"{self.record} {self.what}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "table": self.kind,
            "record_id": self.record_id,
            "position": self.position,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ChainVerdict:
    """What verifying a stretch of the chain found."""

    intact: bool
    signing: str  # "signed", "unsigned", "partly signed" or "none" (no chained record)
    records: int  # chained records verified
    first: ChainEntry | None
    last: ChainEntry | None
    before_chain: int  # records older than the chain
    breaks: tuple[Break, ...] = ()

    @property
    def status(self) -> str:
        if not self.intact:
            return "broken"
        return "intact" if self.records else "empty"

    def describe(self) -> str:
        older = f"; {self.before_chain} older records from before the chain began" if self.before_chain else ""
        if self.breaks:
            more = f" (and {len(self.breaks) - 1} more)" if len(self.breaks) > 1 else ""
            return f"chain broken at {self.breaks[0].describe()}{more}"
        if self.first is None or self.last is None:
            return f"no chained record{older}"
        return (
            f"chain intact from {self.first.kind} {self.first.record_id} ({_moment(self.first.at)}) to "
            f"{self.last.kind} {self.last.record_id} ({_moment(self.last.at)}), {self.records} records, {self.signing}{older}"
        )

    def to_dict(self) -> dict[str, Any]:
        def ends(entry: ChainEntry | None) -> dict[str, Any] | None:
            if entry is None:
                return None
            return {"table": entry.kind, "record_id": entry.record_id, "position": entry.seq, "at": _moment(entry.at)}

        return {
            "status": self.status,
            "signing": self.signing,
            "records": self.records,
            "first": ends(self.first),
            "last": ends(self.last),
            "before_chain": self.before_chain,
            "breaks": [b.to_dict() for b in self.breaks],
            "description": self.describe(),
        }


def _moment(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


def verify_chain(
    entries: Sequence[ChainEntry],
    keys: EvidenceKeys,
    *,
    first_position: int,
    last_position: int,
    counted: Iterable[tuple[str, int]] | None = None,
    unchained: Sequence[Unchained] = (),
    events: Sequence[EventCheck] = (),
) -> ChainVerdict:
    """Verify positions ``first_position``..``last_position`` of the chain, whose records are ``entries``.

    ``entries`` may hold records outside the range (ignored) and several
    records at one position (all but one inserted). ``counted`` names the
    records the verdict counts and reports as first and last (the period's);
    by default every accepted record in the range. ``first_position`` 1 means
    the range starts at the chain's beginning, whose record links to GENESIS.
    """
    breaks: list[Break] = []
    # The chain starts at position 1: a record claiming a position before it was written by
    # someone else, whatever its seal (else a range starting there would begin with no link to check).
    for entry in sorted(entries, key=lambda e: (e.seq, e.kind, e.record_id)):
        if entry.seq < FIRST_POSITION and entry.seq <= last_position:
            breaks.append(Break(INSERTED, entry.kind, entry.record_id, entry.seq,
                                f"it claims position {entry.seq}, before the chain's first ({FIRST_POSITION})"))
    first_position = max(first_position, FIRST_POSITION)
    by_position: dict[int, list[ChainEntry]] = {}
    for entry in entries:
        if first_position <= entry.seq <= last_position:
            by_position.setdefault(entry.seq, []).append(entry)
    accepted: list[ChainEntry] = []
    signed_seen = False
    accepted_checks: dict[str, SealCheck] = {}
    pred: ChainEntry | None = None
    pred_broken = False
    expected = first_position  # the next position a record should hold
    # Only the positions some record claims: a forged position far ahead costs nothing to walk.
    for position in sorted(by_position):
        here = sorted(by_position[position], key=lambda e: (e.kind, e.record_id))
        missing = (expected, position - 1) if position > expected else None
        checks = {}
        for entry in here:
            check = check_seal(keys, entry.content, entry.key_id, entry.seal)
            if check is SealCheck.UNSIGNED and keys.signed and signed_seen:
                check = SealCheck.UNSIGNED_AFTER_SIGNED  # once records are signed, every later one is
            checks[entry.name] = check
        valid = [e for e in here if checks[e.name] in (SealCheck.SIGNED, SealCheck.UNSIGNED)]
        expected_prev = GENESIS if position == 1 else (pred.link if pred is not None else None)
        expected_ref = None if position == 1 else (pred.name if pred is not None else None)

        def fits(entry: ChainEntry, prev: str | None = expected_prev, ref: str | None = expected_ref) -> bool:
            return prev is not None and entry.prev == prev and entry.prev_record == ref

        holder: ChainEntry | None = None
        if valid:
            holder = valid[0]
            for entry in here:
                if entry is not holder:
                    breaks.append(Break(INSERTED, entry.kind, entry.record_id, position,
                                        f"it claims position {position}, which {holder.kind} {holder.record_id} holds with a valid seal"))
        else:
            fitting = [e for e in here if fits(e)]
            holder = fitting[0] if fitting else (here[0] if len(here) == 1 else None)
            if missing and not fitting:
                # Nothing here verifies or links to the last good record, after a gap: these made the gap.
                breaks.extend(
                    Break(INSERTED, e.kind, e.record_id, position,
                          f"its seal does not verify and position {position} lies beyond the end of the chain")
                    for e in here
                )
                continue
            for entry in here:
                if entry is holder:
                    # Under a key the job never had, or unsigned where the job signs: not the job's record at all.
                    foreign = checks[entry.name] in (SealCheck.UNKNOWN_KEY, SealCheck.UNSIGNED_AFTER_SIGNED)
                    breaks.append(Break(INSERTED if foreign else EDITED, entry.kind, entry.record_id, position,
                                        _seal_problem(checks[entry.name], entry)))
                else:
                    breaks.append(Break(INSERTED, entry.kind, entry.record_id, position,
                                        f"its seal does not verify and it does not link to the record before position {position}"))
        if missing:
            breaks.append(_deleted(missing, holder))
        elif holder is not None and position > first_position and not pred_broken and holder in valid and not fits(holder):
            breaks.append(Break(EDITED, pred.kind if pred else "", pred.record_id if pred else None, position - 1,
                                f"its header no longer matches the link {holder.kind} {holder.record_id} holds"))
        elif holder is not None and position == 1 and holder in valid and holder.prev != GENESIS:
            breaks.append(Break(EDITED, holder.kind, holder.record_id, 1, "the first record does not start the chain"))
        if holder is not None:
            if checks[holder.name] is SealCheck.SIGNED:
                signed_seen = True
            accepted_checks[holder.name] = checks[holder.name]
            accepted.append(holder)
            pred, pred_broken = holder, holder not in valid
        expected = position + 1
    for item in unchained:
        if not item.before_chain:
            breaks.append(Break(INSERTED, item.kind, item.record_id, None, "it has no place in the chain (no position, link or seal)"))
    for event in events:
        if event.found is None:
            breaks.append(Break(DELETED, "ops_event", event.event_id, None,
                                f"the UPDATE_USER event of user {event.user_id} that {event.run.replace(':', ' ')} names is gone"))
        elif not hmac.compare_digest(event.found, event.expected):
            breaks.append(Break(EDITED, "ops_event", event.event_id, None,
                                f"the UPDATE_USER event of user {event.user_id} that {event.run.replace(':', ' ')} names has changed"))
    names = None if counted is None else set(counted)
    shown = [e for e in accepted if names is None or (e.kind, e.record_id) in names]
    kinds_signed = {accepted_checks[e.name] for e in shown}
    if not shown:
        signing = "none"
    elif kinds_signed <= {SealCheck.SIGNED}:
        signing = "signed"
    elif SealCheck.SIGNED in kinds_signed:
        signing = "partly signed"
    else:
        signing = "unsigned"
    return ChainVerdict(
        intact=not breaks,
        signing=signing,
        records=len(shown),
        first=shown[0] if shown else None,
        last=shown[-1] if shown else None,
        before_chain=sum(1 for item in unchained if item.before_chain),
        breaks=tuple(breaks),
    )


def _seal_problem(check: SealCheck, entry: ChainEntry) -> str:
    if check is SealCheck.UNKNOWN_KEY:
        return f"it is sealed under key {entry.key_id}, which is neither OPS_EVIDENCE_KEY nor one of OPS_EVIDENCE_PREVIOUS_KEYS"
    if check is SealCheck.UNSIGNED_AFTER_SIGNED:
        return "it is unsigned, but the records before it are signed"
    if entry.key_id is None:
        return "its content no longer matches its digest" if entry.seal else "it carries no seal"
    return "its content no longer matches its seal"


def _deleted(positions: tuple[int, int], after: ChainEntry | None) -> Break:
    """The break for the positions nobody holds (first, last); the record after them names the last of the missing."""
    first, last = positions
    named = after.prev_record if after is not None else None
    kind, _, number = (named or "").partition(":")
    following = f"{after.kind} {after.record_id}" if after is not None else "the next record"
    span = f"position {first}" if first == last else f"positions {first} to {last}"
    detail = f"{span} of the chain {'is' if first == last else 'are'} empty; {following} links to {'it' if first == last else 'the last'}"
    if named and number.isdigit():
        return Break(DELETED, kind, int(number), last, detail)
    return Break(DELETED, "", None, last, detail)
