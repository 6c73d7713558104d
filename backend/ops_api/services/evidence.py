"""The signed chain of the job's records in the database: appending, completing and verifying records.

The rules (canonical bytes, links, seals, what counts as deleted, edited or
inserted) are plain functions in :mod:`ops_api.domain.evidence_chain`; this
module reads and writes the rows.

* :func:`append_record` is the one place a new run or e-mail record enters the
  chain: it takes the chain's transaction-level lock (PostgreSQL; the
  database's write lock on SQLite), inserts the record, gives it the next
  position after the newest record of either table, links and seals it. The
  caller commits, which releases the lock, so two writers never fork the chain.
* :func:`resealing` wraps the job's own completion of a record (a run that
  ends, a message handed over): the new content is sealed again only if the
  record's seal verified before the change. A record someone else changed
  keeps its broken seal, so the change is never laundered by the job.
* :func:`verify_period` and :func:`verify_recent` read a stretch of the chain
  (and the record just before and just after it) and the UPDATE_USER events
  its runs name, and return the domain's verdict. They only read.

The key comes from OPS_EVIDENCE_KEY (and OPS_EVIDENCE_PREVIOUS_KEYS) through
:func:`keys_from_config`; it is never stored, logged or shown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ops_api.advisory_lock import LockPurpose, take_transaction_lock
from ops_api.domain import evidence_chain as chain
from ops_api.domain.evidence_chain import ChainEntry, ChainVerdict, EventCheck, EvidenceKeys, SealCheck, Unchained
from ops_api.models import EmailRecord, JobRun, OpsEvent

logger = logging.getLogger(__name__)

ChainRecord = JobRun | EmailRecord
# How far back the health check and each run verify the chain: a month of hourly runs.
RECENT_WINDOW = timedelta(days=31)
_MODELS: tuple[Any, ...] = (JobRun, EmailRecord)  # the two tables of the chain
_SEALED_APART = ("chain_key_id", "chain_seal")


def keys_from_config(config: Mapping[str, Any]) -> EvidenceKeys:
    """The evidence keys of the settings (already checked by ops_api.config)."""
    return EvidenceKeys.from_settings(config.get("EVIDENCE_KEY"), config.get("EVIDENCE_PREVIOUS_KEYS") or ())


def kind_of(record: ChainRecord | type[ChainRecord]) -> str:
    return str(record.__tablename__)


def _time_column(model: type[ChainRecord]) -> Any:
    return JobRun.started_at if model is JobRun else EmailRecord.created_on


def content_of(record: ChainRecord) -> dict[str, Any]:
    """What the seal covers: every column of the record but its key id and seal, and its kind."""
    fields = {
        column.key: getattr(record, column.key)
        for column in record.__table__.columns
        if column.key not in _SEALED_APART
    }
    fields["kind"] = kind_of(record)
    return fields


def event_content(event: OpsEvent) -> dict[str, Any]:
    """An ops_event row as its digest covers it: every column."""
    return {column.key: getattr(event, column.key) for column in OpsEvent.__table__.columns}


def _entry(record: ChainRecord) -> ChainEntry:
    return ChainEntry(
        kind=kind_of(record),
        record_id=record.id,
        seq=int(record.chain_seq or 0),
        prev=record.chain_prev,
        prev_record=record.chain_prev_record,
        key_id=record.chain_key_id,
        seal=record.chain_seal,
        at=record.started_at if isinstance(record, JobRun) else record.created_on,
        content=content_of(record),
    )


def _seal(record: ChainRecord, keys: EvidenceKeys) -> None:
    record.chain_key_id, record.chain_seal = chain.seal(keys, content_of(record))


# -- writing ---------------------------------------------------------------------


def append_record(session: Session, record: ChainRecord, keys: EvidenceKeys) -> None:
    """Insert ``record`` as the newest link of the chain (flushed, not committed: the caller commits).

    The only way a run or e-mail record is inserted. The chain's lock is held
    from here until the caller's transaction ends.
    """
    take_transaction_lock(session, LockPurpose.CHAIN)
    session.add(record)
    session.flush()  # the id, and on SQLite the write lock, before the newest record is read
    tail = _newest(session)
    if tail is None:
        record.chain_seq, record.chain_prev, record.chain_prev_record = 1, chain.GENESIS, None
    else:
        entry = _entry(tail)
        record.chain_seq, record.chain_prev, record.chain_prev_record = entry.seq + 1, entry.link, entry.name
    _seal(record, keys)
    session.flush()


def _newest(session: Session) -> ChainRecord | None:
    newest: ChainRecord | None = None
    for model in _MODELS:
        found = session.scalars(
            select(model).where(model.chain_seq.is_not(None)).order_by(model.chain_seq.desc()).limit(1)
        ).first()
        if found is not None and (newest is None or (found.chain_seq or 0) > (newest.chain_seq or 0)):
            newest = found
    return newest


@contextlib.contextmanager
def resealing(record: ChainRecord, keys: EvidenceKeys) -> Iterator[None]:
    """Change a chained record in the block; seal it again afterwards only if its seal held before the change.

    A record outside the chain (older than it) is changed and stays outside.
    A record whose seal no longer verified keeps that seal, and the change is
    logged: the job never re-signs what someone else changed.
    """
    if record.chain_seq is None:
        yield
        return
    before = chain.check_seal(keys, content_of(record), record.chain_key_id, record.chain_seal)
    yield
    if before in (SealCheck.SIGNED, SealCheck.UNSIGNED):
        _seal(record, keys)
        return
    logger.error(
        "%s %s no longer matched its seal before the job changed it: left unsealed for the chain's readers to report",
        kind_of(record),
        record.id,
        extra={"event": "evidence_not_resealed", "table": kind_of(record), "record_id": record.id},
    )


def event_digest(event: OpsEvent) -> str:
    return chain.event_digest(event_content(event))


def disabled_event(session: Session, user_id: int, event_id: int) -> dict[str, Any]:
    """What a run record keeps of an UPDATE_USER event it wrote: the user, the event's id and the digest of its row."""
    event = session.scalars(
        select(OpsEvent).where(OpsEvent.id == event_id).execution_options(populate_existing=True)
    ).one()
    return {"user_id": user_id, "event_id": event_id, "sha256": event_digest(event)}


# -- verifying ---------------------------------------------------------------------


def verify_recent(session: Session, keys: EvidenceKeys, *, now: datetime, window: timedelta = RECENT_WINDOW) -> ChainVerdict:
    """The chain over the last ``window`` (31 days) up to ``now``. Only reads."""
    return verify_period(session, keys, start=now - window, end=now)


def verify_period(session: Session, keys: EvidenceKeys, *, start: datetime, end: datetime) -> ChainVerdict:
    """The chain over the records written in ``[start, end)``, linked to the record just before and just after. Only reads."""
    in_period: list[ChainRecord] = []
    unchained: list[ChainRecord] = []
    for model in _MODELS:
        at = _time_column(model)
        rows: Sequence[ChainRecord] = session.scalars(select(model).where(at >= start, at < end)).all()
        in_period.extend(r for r in rows if r.chain_seq is not None)
        unchained.extend(r for r in rows if r.chain_seq is None)
    counted = [(kind_of(r), r.id) for r in in_period]
    if in_period:
        low = min(int(r.chain_seq or 0) for r in in_period)
        high = max(int(r.chain_seq or 0) for r in in_period)
        first = _neighbour(session, low, before=True) or 1
        last = _neighbour(session, high, before=False) or high
        low = min(low, first)
        records = _between(session, low, last)
    else:
        # Nothing chained in the period: the records around it still show whether one was deleted from it.
        low = last = 0
        records = []
        before_start = _around(session, start, before=True)
        after_end = _around(session, end, before=False)
        if before_start is not None and after_end is not None:
            low, last = int(before_start.chain_seq or 0), int(after_end.chain_seq or 0)
            records = _between(session, low, last)
    entries = [_entry(r) for r in records]
    chain_start = _chain_start(session)
    outside = [
        Unchained(
            kind_of(r),
            r.id,
            r.started_at if isinstance(r, JobRun) else r.created_on,
            _before_chain(r, chain_start),
        )
        for r in unchained
    ]
    events = _event_checks(session, [r for r in in_period if isinstance(r, JobRun)])
    if not entries:
        return chain.verify_chain([], keys, first_position=1, last_position=0, counted=counted, unchained=outside, events=events)
    return chain.verify_chain(
        entries, keys, first_position=low, last_position=last, counted=counted, unchained=outside, events=events
    )


def _neighbour(session: Session, position: int, *, before: bool) -> int | None:
    """The position of the nearest chained record before (or after) ``position``, in either table."""
    found = []
    for model in _MODELS:
        condition = model.chain_seq < position if before else model.chain_seq > position
        found.append(session.scalar(select(func.max(model.chain_seq) if before else func.min(model.chain_seq)).where(condition)))
    present = [int(value) for value in found if value is not None]
    if not present:
        return None
    return max(present) if before else min(present)


def _around(session: Session, moment: datetime, *, before: bool) -> ChainRecord | None:
    """The newest chained record written before ``moment`` (or the oldest at or after it)."""
    best: ChainRecord | None = None
    for model in _MODELS:
        at = _time_column(model)
        query = select(model).where(model.chain_seq.is_not(None))
        query = (query.where(at < moment).order_by(model.chain_seq.desc()) if before
                 else query.where(at >= moment).order_by(model.chain_seq))
        found = session.scalars(query.limit(1)).first()
        if found is None:
            continue
        if best is None or ((found.chain_seq or 0) > (best.chain_seq or 0)) == before:
            best = found
    return best


def _between(session: Session, low: int, high: int) -> list[ChainRecord]:
    rows: list[ChainRecord] = []
    for model in _MODELS:
        rows.extend(session.scalars(select(model).where(model.chain_seq >= low, model.chain_seq <= high)).all())
    return rows


def _chain_start(session: Session) -> dict[str, Any]:
    """Where the chain began: the lowest id of a chained record in each table, and the earliest time of one."""
    start: dict[str, Any] = {"at": None}
    for model in _MODELS:
        row = session.execute(select(func.min(model.id), func.min(_time_column(model))).where(model.chain_seq.is_not(None))).one()
        start[kind_of(model)] = row[0]
        if row[1] is not None and (start["at"] is None or row[1] < start["at"]):
            start["at"] = row[1]
    return start


def _before_chain(record: ChainRecord, chain_start: Mapping[str, Any]) -> bool:
    """An unchained record is older than the chain if it precedes the chain's first record in time and in its table's ids."""
    at = record.started_at if isinstance(record, JobRun) else record.created_on
    first_id = chain_start.get(kind_of(record))
    began = chain_start.get("at")
    if began is None:
        return True
    if at is not None and at > began:
        return False
    return first_id is None or record.id < first_id


def _event_checks(session: Session, runs: Sequence[JobRun]) -> list[EventCheck]:
    named = [(run, item) for run in runs for item in (run.disabled_events or []) if isinstance(item, dict)]
    if not named:
        return []
    ids = sorted({int(item["event_id"]) for _, item in named if isinstance(item.get("event_id"), int)})
    found = {}
    for start in range(0, len(ids), 1000):
        for event in session.scalars(select(OpsEvent).where(OpsEvent.id.in_(ids[start:start + 1000]))):
            found[event.id] = event_digest(event)
    return [
        EventCheck(
            run=chain.record_name(chain.KIND_RUN, run.id),
            event_id=int(item.get("event_id") or 0),
            user_id=item.get("user_id"),
            expected=str(item.get("sha256")),
            found=found.get(int(item.get("event_id") or 0)),
        )
        for run, item in named
    ]


__all__ = [
    "RECENT_WINDOW",
    "append_record",
    "disabled_event",
    "keys_from_config",
    "resealing",
    "verify_period",
    "verify_recent",
]
