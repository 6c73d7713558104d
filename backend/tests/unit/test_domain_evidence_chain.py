"""The evidence chain's pure rules: canonical bytes, digests, seals, keys and what verification names."""

from __future__ import annotations

import enum
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from ops_api.domain import evidence_chain as chain
from ops_api.domain.evidence_chain import ChainEntry, EventCheck, EvidenceKeys, SealCheck, Unchained

KEY = "unit-test-evidence-key-0123456789abcdef0123"
OLD = "unit-test-older-evidence-key-abcdef01234567"
AT = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)


class Colour(enum.Enum):
    RED = "r"


def build(keys: EvidenceKeys, count: int, *, kind: str = chain.KIND_RUN) -> list[ChainEntry]:
    """``count`` records chained and sealed as the job writes them."""
    entries: list[ChainEntry] = []
    for position in range(1, count + 1):
        before = entries[-1] if entries else None
        prev = before.link if before else chain.GENESIS
        prev_record = before.name if before else None
        entries.append(make(keys, kind, position + 100, position, prev, prev_record))
    return entries


def make(keys, kind, record_id, seq, prev, prev_record, *, disabled=0, at=None):
    at = at or AT + timedelta(hours=seq)
    content = {
        "kind": kind, "id": record_id, "chain_seq": seq, "chain_prev": prev, "chain_prev_record": prev_record,
        "started_at": at, "disabled": disabled,
    }
    key_id, seal = chain.seal(keys, content)
    return ChainEntry(kind, record_id, seq, prev, prev_record, key_id, seal, at, content)


def edited(entry: ChainEntry, **changes) -> ChainEntry:
    return ChainEntry(entry.kind, entry.record_id, entry.seq, entry.prev, entry.prev_record, entry.key_id, entry.seal,
                      entry.at, {**entry.content, **changes})


def verify(entries, keys, **options):
    low = options.pop("first_position", 1)
    high = options.pop("last_position", max(e.seq for e in entries))
    return chain.verify_chain(entries, keys, first_position=low, last_position=high, **options)


SIGNED = EvidenceKeys.from_settings(KEY)


def test_canonical_bytes_are_sorted_compact_utf8_json_with_utc_microsecond_times():
    moment = datetime(2026, 9, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    data = chain.canonical_bytes({"b": moment, "a": [Colour.RED, None, True, 1.5], "c": {"z": "é", "y": 2}})
    assert data == '{"a":["RED",null,true,1.5],"b":"2026-09-01T12:00:00.000005Z","c":{"y":2,"z":"é"}}'.encode()


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), float("nan"), object(), {1: "a"}, b"bytes"])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(chain.CanonicalError):
        chain.canonical_bytes({"v": value})


def test_the_key_id_is_the_first_8_hex_digits_of_the_keys_sha256():
    assert SIGNED.current_id == hashlib.sha256(KEY.encode()).hexdigest()[:8]


def test_the_keys_never_show_in_a_repr():
    keys = EvidenceKeys.from_settings(KEY, [OLD])
    assert KEY not in repr(keys) and OLD not in repr(keys) and keys.current_id in repr(keys)


def test_a_seal_is_the_hmac_sha256_of_the_canonical_bytes_with_the_key_id():
    content = {"kind": "job_run", "id": 1}
    key_id, seal = chain.seal(SIGNED, content)
    expected = hmac.new(KEY.encode(), chain.canonical_bytes({**content, "chain_key_id": key_id}), hashlib.sha256).hexdigest()
    assert (key_id, seal) == (SIGNED.current_id, expected)
    assert chain.check_seal(SIGNED, content, key_id, seal) is SealCheck.SIGNED


def test_without_a_key_the_seal_is_a_plain_sha256_and_checks_as_unsigned():
    content = {"kind": "job_run", "id": 1}
    key_id, seal = chain.seal(chain.UNSIGNED, content)
    assert key_id is None and seal == hashlib.sha256(chain.canonical_bytes({**content, "chain_key_id": None})).hexdigest()
    assert chain.check_seal(SIGNED, content, key_id, seal) is SealCheck.UNSIGNED


def test_a_seal_made_with_another_key_under_the_jobs_key_id_is_invalid():
    content = {"kind": "job_run", "id": 1}
    forged = hmac.new(b"guess", chain.canonical_bytes({**content, "chain_key_id": SIGNED.current_id}), hashlib.sha256)
    assert chain.check_seal(SIGNED, content, SIGNED.current_id, forged.hexdigest()) is SealCheck.INVALID


def test_a_previous_key_still_verifies_and_a_dropped_one_does_not():
    old = EvidenceKeys.from_settings(OLD)
    content = {"kind": "job_run", "id": 1}
    key_id, seal = chain.seal(old, content)
    assert chain.check_seal(EvidenceKeys.from_settings(KEY, [OLD]), content, key_id, seal) is SealCheck.SIGNED
    assert chain.check_seal(SIGNED, content, key_id, seal) is SealCheck.UNKNOWN_KEY


def test_an_intact_chain_names_its_first_and_last_records_count_and_signing():
    entries = build(SIGNED, 3)
    verdict = verify(entries, SIGNED)
    assert verdict.intact and verdict.records == 3 and verdict.signing == "signed"
    assert verdict.describe() == (
        "chain intact from job_run 101 (2026-09-01T13:00:00+00:00) to job_run 103 (2026-09-01T15:00:00+00:00), 3 records, signed"
    )


def test_a_deleted_record_is_named_by_the_link_of_the_one_after_it():
    entries = build(SIGNED, 4)
    verdict = verify([e for e in entries if e.seq != 2], SIGNED)
    (broken,) = verdict.breaks
    assert (broken.what, broken.kind, broken.record_id, broken.position) == ("deleted", "job_run", 102, 2)


def test_an_edited_record_is_named_edited_and_the_rest_still_holds():
    entries = build(SIGNED, 4)
    entries[1] = edited(entries[1], disabled=9)
    (broken,) = verify(entries, SIGNED).breaks
    assert (broken.what, broken.record_id) == ("edited", 102)


def test_a_record_claiming_a_taken_position_is_named_inserted():
    entries = build(SIGNED, 3)
    forged = make(EvidenceKeys.from_settings("forger-key-forger-key-forger-key-1"), "job_run", 999, 2,
                  entries[0].link, entries[0].name)
    (broken,) = verify([*entries, forged], SIGNED).breaks
    assert (broken.what, broken.record_id) == ("inserted", 999)


def test_a_forged_record_at_the_end_under_an_unknown_key_is_named_inserted():
    entries = build(SIGNED, 2)
    forged = make(EvidenceKeys.from_settings("forger-key-forger-key-forger-key-1"), "job_run", 999, 3,
                  entries[-1].link, entries[-1].name)
    (broken,) = verify([*entries, forged], SIGNED).breaks
    assert (broken.what, broken.record_id) == ("inserted", 999) and "neither OPS_EVIDENCE_KEY" in broken.detail


def test_an_unsigned_record_after_signed_ones_is_named_inserted():
    entries = build(SIGNED, 2)
    forged = make(chain.UNSIGNED, "job_run", 999, 3, entries[-1].link, entries[-1].name)
    (broken,) = verify([*entries, forged], SIGNED).breaks
    assert (broken.what, broken.record_id) == ("inserted", 999)


def test_a_record_without_a_place_in_the_chain_is_inserted_unless_older_than_the_chain():
    entries = build(SIGNED, 2)
    verdict = verify(entries, SIGNED, unchained=[Unchained("job_run", 50, AT, True), Unchained("job_run", 200, AT, False)])
    (broken,) = verdict.breaks
    assert (broken.what, broken.record_id) == ("inserted", 200) and verdict.before_chain == 1


def test_a_changed_header_breaks_the_link_the_next_record_holds():
    entries = build(chain.UNSIGNED, 3)
    # Without a key anyone can reseal: the change still shows in the next record's link.
    first = entries[0]
    resealed = make(chain.UNSIGNED, first.kind, 777, first.seq, first.prev, first.prev_record, at=first.at)
    (broken,) = verify([resealed, *entries[1:]], chain.UNSIGNED).breaks
    assert (broken.what, broken.position) == ("edited", 1) and broken.record_id == 777


def test_a_window_that_starts_mid_chain_checks_only_its_own_links():
    entries = build(SIGNED, 5)
    verdict = verify(entries[2:], SIGNED, first_position=3, last_position=5)
    assert verdict.intact and verdict.records == 3


def test_a_deleted_record_just_before_the_window_is_caught():
    entries = build(SIGNED, 5)
    verdict = verify([entries[1], *entries[3:]], SIGNED, first_position=2, last_position=5)
    (broken,) = verdict.breaks
    assert (broken.what, broken.record_id) == ("deleted", 103)


def test_counted_records_are_those_of_the_period_only():
    entries = build(SIGNED, 4)
    verdict = verify(entries, SIGNED, counted=[("job_run", 102), ("job_run", 103)])
    assert verdict.records == 2 and verdict.first.record_id == 102 and verdict.last.record_id == 103


def test_events_deleted_or_changed_are_named_with_the_run_that_names_them():
    entries = build(SIGNED, 1)
    events = [
        EventCheck("job_run:101", 7, 42, "a" * 64, None),
        EventCheck("job_run:101", 8, 43, "a" * 64, "b" * 64),
        EventCheck("job_run:101", 9, 44, "a" * 64, "a" * 64),
    ]
    breaks = verify(entries, SIGNED, events=events).breaks
    assert [(b.what, b.kind, b.record_id) for b in breaks] == [("deleted", "ops_event", 7), ("edited", "ops_event", 8)]
    assert "user 42" in breaks[0].detail and "job_run 101" in breaks[0].detail


def test_an_unsigned_chain_says_unsigned_and_a_mixed_one_partly_signed():
    assert verify(build(chain.UNSIGNED, 2), chain.UNSIGNED).signing == "unsigned"
    entries = build(chain.UNSIGNED, 1)
    signed = make(SIGNED, "job_run", 102, 2, entries[0].link, entries[0].name)
    verdict = verify([*entries, signed], SIGNED)
    assert verdict.intact and verdict.signing == "partly signed"


def test_no_chained_record_is_an_empty_verdict():
    verdict = chain.verify_chain([], SIGNED, first_position=1, last_position=0)
    assert verdict.status == "empty" and verdict.signing == "none" and verdict.describe() == "no chained record"


def test_the_event_digest_is_the_sha256_of_the_rows_canonical_bytes():
    row = {"id": 7, "event_type": "UPDATE_USER", "event_details": {"user_id": 42}, "created_on": AT}
    assert chain.event_digest(row) == hashlib.sha256(chain.canonical_bytes(row)).hexdigest()


def test_a_forged_record_far_beyond_the_end_is_inserted_and_costs_nothing_to_walk():
    entries = build(SIGNED, 2)
    forged = make(chain.UNSIGNED, "job_run", 999, 10**15, "f" * 64, "job_run:5", at=AT + timedelta(hours=3))
    verdict = verify([*entries, forged], SIGNED)
    (broken,) = verdict.breaks
    assert (broken.what, broken.record_id) == ("inserted", 999) and verdict.records == 2


def test_several_deleted_records_in_a_row_are_one_break_naming_the_last():
    entries = build(SIGNED, 6)
    (broken,) = verify([e for e in entries if e.seq not in (2, 3, 4)], SIGNED).breaks
    assert (broken.what, broken.record_id) == ("deleted", 104) and "positions 2 to 4" in broken.detail


@pytest.mark.parametrize("position", [0, -5])
def test_a_record_claiming_a_position_before_the_first_is_inserted_whatever_its_seal(position):
    # The range the services verify starts at the lowest position a record claims: a forgery at 0,
    # unsigned, would otherwise open the range with no link to check and pass as intact.
    entries = build(SIGNED, 3)
    forged = make(chain.UNSIGNED, "job_run", 999, position, chain.GENESIS, None)

    verdict = verify([forged, *entries], SIGNED, first_position=position)

    (broken,) = verdict.breaks
    assert (broken.what, broken.kind, broken.record_id, broken.position) == ("inserted", "job_run", 999, position)
    assert broken.detail == f"it claims position {position}, before the chain's first (1)"
    assert not verdict.intact and verdict.records == 3


def test_a_lone_record_at_position_0_is_inserted_too():
    forged = make(chain.UNSIGNED, "job_run", 999, 0, chain.GENESIS, None)

    verdict = verify([forged], SIGNED, first_position=0, last_position=0)

    assert [(b.what, b.record_id) for b in verdict.breaks] == [("inserted", 999)] and not verdict.intact
