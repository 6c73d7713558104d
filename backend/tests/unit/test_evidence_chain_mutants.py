"""The evidence chain's rules to the letter: each refusal's message, each break's fields, each edge of verification."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from ops_api.domain import evidence_chain as chain
from ops_api.domain.evidence_chain import Break, ChainEntry, EventCheck, EvidenceKeys, SealCheck, Unchained

KEY = "unit-test-evidence-key-0123456789abcdef0123"
OLD = "unit-test-older-evidence-key-abcdef01234567"
AT = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
SIGNED = EvidenceKeys.from_settings(KEY)
FORGER = EvidenceKeys.from_settings("forger-key-forger-key-forger-key-1")
RUN = chain.KIND_RUN


def make(keys: EvidenceKeys, seq: int, prev: str, prev_record: str | None, *, record_id: int | None = None,
         disabled: int = 0) -> ChainEntry:
    """A run record at ``seq`` (id 100 + seq unless given), sealed under ``keys`` as the job seals them."""
    record_id = 100 + seq if record_id is None else record_id
    at = AT + timedelta(hours=seq)
    content = {"kind": RUN, "id": record_id, "chain_seq": seq, "chain_prev": prev, "chain_prev_record": prev_record,
               "started_at": at, "disabled": disabled}
    key_id, seal = chain.seal(keys, content)
    return ChainEntry(RUN, record_id, seq, prev, prev_record, key_id, seal, at, content)


def build(keys: EvidenceKeys, count: int) -> list[ChainEntry]:
    """Records 101, 102, ... at positions 1, 2, ..., each linked to the one before."""
    entries: list[ChainEntry] = []
    for seq in range(1, count + 1):
        before = entries[-1] if entries else None
        entries.append(make(keys, seq, before.link if before else chain.GENESIS, before.name if before else None))
    return entries


def changed(entry: ChainEntry, **content: object) -> ChainEntry:
    """``entry`` with its content changed and its seal left as it was."""
    return ChainEntry(entry.kind, entry.record_id, entry.seq, entry.prev, entry.prev_record, entry.key_id, entry.seal,
                      entry.at, {**entry.content, **content})


def verify(entries: list[ChainEntry], keys: EvidenceKeys = SIGNED, **options: object) -> chain.ChainVerdict:
    return chain.verify_chain(entries, keys, first_position=1, last_position=max(e.seq for e in entries), **options)


@pytest.fixture
def local_zone_ahead_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to UTC+05:30 for the test, then restored."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- canonical bytes -----------------------------------------------------------------


def test_a_float_that_is_not_finite_is_refused_naming_the_value():
    with pytest.raises(chain.CanonicalError, match=r"^a float that is not finite has no canonical form: inf$"):
        chain.canonical_value(float("inf"))


def test_a_naive_datetime_is_refused_because_the_chains_times_are_utc():
    with pytest.raises(chain.CanonicalError) as refused:
        chain.canonical_value(datetime(2026, 9, 1, 12, 0))
    assert str(refused.value) == "a naive datetime has no canonical form: the chain's times are UTC"


def test_a_mapping_key_that_is_not_text_is_refused_naming_its_type():
    with pytest.raises(chain.CanonicalError, match=r"^a mapping key must be text, got int$"):
        chain.canonical_value({1: "a"})


def test_a_value_of_a_type_the_chain_does_not_know_is_refused_naming_the_type():
    with pytest.raises(chain.CanonicalError, match=r"^a bytes has no canonical form$"):
        chain.canonical_value(b"bytes")


def test_canonical_times_are_utc_whatever_the_machines_local_zone(local_zone_ahead_of_utc):
    assert chain.canonical_value(datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)) == "2026-09-01T12:00:00.000000Z"


def test_the_link_digest_is_the_sha256_of_the_headers_sorted_compact_json():
    header = (b'{"chain_prev":"' + b"a" * 64 + b'","chain_prev_record":"email_record:7","chain_seq":3,'
              b'"id":12,"kind":"job_run"}')
    assert chain.link_digest(RUN, 12, 3, "a" * 64, "email_record:7") == hashlib.sha256(header).hexdigest()


# -- keys and seals ------------------------------------------------------------------


@pytest.mark.parametrize("setting", [None, ""])
def test_an_empty_or_missing_key_setting_leaves_the_chain_unsigned(setting):
    keys = EvidenceKeys.from_settings(setting, ["", OLD])
    assert keys.current is None and not keys.signed and keys.previous == (OLD.encode(),)


def test_an_unsigned_seal_that_does_not_match_the_content_is_invalid():
    assert chain.check_seal(SIGNED, {"kind": RUN, "id": 1}, None, "0" * 64) is SealCheck.INVALID


# -- the verdict as text and as a dict -------------------------------------------------


def test_a_break_as_a_dict_names_its_table_record_position_and_detail():
    broken = Break(chain.EDITED, RUN, 102, 2, "its content no longer matches its seal")
    assert broken.to_dict() == {
        "what": "edited", "table": "job_run", "record_id": 102, "position": 2,
        "detail": "its content no longer matches its seal",
    }


def test_an_intact_verdict_as_a_dict_gives_status_signing_ends_and_description():
    verdict = verify(build(SIGNED, 2))
    assert verdict.to_dict() == {
        "status": "intact",
        "signing": "signed",
        "records": 2,
        "first": {"table": "job_run", "record_id": 101, "position": 1, "at": "2026-09-01T13:00:00+00:00"},
        "last": {"table": "job_run", "record_id": 102, "position": 2, "at": "2026-09-01T14:00:00+00:00"},
        "before_chain": 0,
        "breaks": [],
        "description": verdict.describe(),
    }


def test_the_verdicts_moments_are_utc_whatever_the_machines_local_zone(local_zone_ahead_of_utc):
    description = verify(build(SIGNED, 1)).describe()
    assert description == "chain intact from job_run 101 (2026-09-01T13:00:00+00:00) to job_run 101 (2026-09-01T13:00:00+00:00), 1 records, signed"


def test_records_older_than_the_chain_are_counted_in_the_description():
    verdict = verify(build(SIGNED, 1), unchained=[Unchained(RUN, 50, AT, True)])
    assert verdict.describe().endswith(", 1 records, signed; 1 older records from before the chain began")


def test_a_single_break_is_described_alone():
    entries = build(SIGNED, 3)
    verdict = verify([entries[0], entries[2]])
    assert verdict.describe() == (
        "chain broken at job_run 102 deleted: position 2 of the chain is empty; job_run 103 links to it"
    )


def test_breaks_after_the_first_are_counted_after_it():
    entries = build(SIGNED, 3)
    verdict = verify([entries[0], entries[2]], unchained=[Unchained(RUN, 200, AT, False)])
    assert verdict.describe() == (
        "chain broken at job_run 102 deleted: position 2 of the chain is empty; job_run 103 links to it (and 1 more)"
    )


# -- deleted records -------------------------------------------------------------------


def test_several_deleted_records_are_one_span_the_next_record_links_to_the_last_of():
    entries = build(SIGNED, 5)
    (broken,) = verify([entries[0], entries[4]]).breaks
    assert broken == Break(chain.DELETED, RUN, 104, 4,
                           "positions 2 to 4 of the chain are empty; job_run 105 links to the last")


@pytest.mark.parametrize("named", [None, "job_run:1:2", "job_run:x"])
def test_a_gap_before_a_record_that_does_not_name_its_predecessor_is_reported_by_position(named):
    entries = build(SIGNED, 2)
    after_gap = make(SIGNED, 3, entries[1].link, named)
    (broken,) = verify([entries[0], after_gap]).breaks
    assert broken == Break(chain.DELETED, "", None, 2, "position 2 of the chain is empty; job_run 103 links to it")
    assert broken.record == "the record at position 2"


# -- edited records ----------------------------------------------------------------------


def test_an_edited_signed_record_no_longer_matches_its_seal():
    entries = build(SIGNED, 3)
    entries[1] = changed(entries[1], disabled=9)
    assert verify(entries).breaks == (Break(chain.EDITED, RUN, 102, 2, "its content no longer matches its seal"),)


def test_an_edited_unsigned_record_no_longer_matches_its_digest():
    entries = build(chain.UNSIGNED, 3)
    entries[1] = changed(entries[1], disabled=9)
    breaks = verify(entries, chain.UNSIGNED).breaks
    assert breaks == (Break(chain.EDITED, RUN, 102, 2, "its content no longer matches its digest"),)


def test_an_unsigned_record_whose_seal_is_gone_carries_no_seal():
    entries = build(chain.UNSIGNED, 3)
    second = entries[1]
    entries[1] = ChainEntry(second.kind, second.record_id, second.seq, second.prev, second.prev_record, None, None,
                            second.at, second.content)
    assert verify(entries, chain.UNSIGNED).breaks == (Break(chain.EDITED, RUN, 102, 2, "it carries no seal"),)


def test_a_record_whose_seal_fails_and_whose_header_changed_is_still_the_edited_record_of_its_place():
    entries = build(SIGNED, 3)
    second = entries[1]
    entries[1] = ChainEntry(second.kind, second.record_id, second.seq, second.prev, "job_run:77", second.key_id,
                            second.seal, second.at, {**second.content, "chain_prev_record": "job_run:77"})
    assert verify(entries).breaks == (Break(chain.EDITED, RUN, 102, 2, "its content no longer matches its seal"),)


def test_a_resealed_header_breaks_the_link_on_both_sides_of_the_record():
    entries = build(chain.UNSIGNED, 3)
    # Without a key anyone can reseal: only the link changes, the name of the record before stays.
    entries[1] = make(chain.UNSIGNED, 2, "e" * 64, entries[0].name)
    assert verify(entries, chain.UNSIGNED).breaks == (
        Break(chain.EDITED, RUN, 101, 1, "its header no longer matches the link job_run 102 holds"),
        Break(chain.EDITED, RUN, 102, 2, "its header no longer matches the link job_run 103 holds"),
    )


def test_a_first_record_that_does_not_link_to_genesis_does_not_start_the_chain():
    entries = build(SIGNED, 2)
    entries[0] = make(SIGNED, 1, "e" * 64, None)
    assert verify(entries).breaks == (
        Break(chain.EDITED, RUN, 101, 1, "the first record does not start the chain"),
        Break(chain.EDITED, RUN, 101, 1, "its header no longer matches the link job_run 102 holds"),
    )


def test_a_first_record_whose_seal_fails_is_named_once_for_its_seal():
    entries = build(SIGNED, 2)
    first = entries[0]
    entries[0] = ChainEntry(first.kind, first.record_id, 1, "e" * 64, None, first.key_id, first.seal, first.at,
                            {**first.content, "chain_prev": "e" * 64})
    assert verify(entries).breaks == (Break(chain.EDITED, RUN, 101, 1, "its content no longer matches its seal"),)


@pytest.mark.parametrize("position", [1, 2])
def test_of_two_records_at_one_place_whose_seals_fail_the_one_that_links_is_edited_and_the_other_inserted(position):
    entries = build(SIGNED, 3)
    genuine = entries[position - 1]
    forged = make(FORGER, position, "f" * 64, None, record_id=50)
    entries[position - 1] = changed(genuine, disabled=9)
    breaks = verify([*entries, forged]).breaks
    assert breaks == (
        Break(chain.INSERTED, RUN, 50, position,
              f"its seal does not verify and it does not link to the record before position {position}"),
        Break(chain.EDITED, RUN, genuine.record_id, position, "its content no longer matches its seal"),
    )


def test_when_only_forgeries_hold_the_first_place_the_next_record_says_its_link_is_not_matched():
    entries = build(SIGNED, 2)
    forged = [make(FORGER, 1, "f" * 64, None, record_id=record_id) for record_id in (50, 51)]
    breaks = verify([*forged, entries[1]]).breaks
    assert breaks == (
        Break(chain.INSERTED, RUN, 50, 1, "its seal does not verify and it does not link to the record before position 1"),
        Break(chain.INSERTED, RUN, 51, 1, "its seal does not verify and it does not link to the record before position 1"),
        Break(chain.EDITED, "", None, 1, "its header no longer matches the link job_run 102 holds"),
    )


# -- inserted records --------------------------------------------------------------------


def test_a_record_claiming_a_taken_place_is_inserted_and_the_holder_named():
    entries = build(SIGNED, 3)
    forged = make(FORGER, 2, entries[0].link, entries[0].name, record_id=999)
    assert verify([*entries, forged]).breaks == (
        Break(chain.INSERTED, RUN, 999, 2, "it claims position 2, which job_run 102 holds with a valid seal"),
    )


def test_forgeries_that_neither_verify_nor_link_are_all_inserted_at_a_place_no_record_holds():
    entries = build(SIGNED, 3)
    forged = [make(FORGER, 2, "f" * 64, None, record_id=record_id) for record_id in (998, 999)]
    breaks = verify([entries[0], *forged, entries[2]]).breaks
    assert breaks[:2] == (
        Break(chain.INSERTED, RUN, 998, 2, "its seal does not verify and it does not link to the record before position 2"),
        Break(chain.INSERTED, RUN, 999, 2, "its seal does not verify and it does not link to the record before position 2"),
    )


def test_every_forged_record_beyond_the_end_is_inserted():
    entries = build(SIGNED, 2)
    forged = [make(FORGER, seq, "f" * 64, "job_run:4") for seq in (5, 6)]
    assert verify([*entries, *forged]).breaks == (
        Break(chain.INSERTED, RUN, 105, 5, "its seal does not verify and position 5 lies beyond the end of the chain"),
        Break(chain.INSERTED, RUN, 106, 6, "its seal does not verify and position 6 lies beyond the end of the chain"),
    )


def test_an_unsigned_record_after_signed_ones_is_inserted_because_the_records_before_are_signed():
    entries = build(SIGNED, 2)
    forged = make(chain.UNSIGNED, 3, entries[1].link, entries[1].name)
    assert verify([*entries, forged]).breaks == (
        Break(chain.INSERTED, RUN, 103, 3, "it is unsigned, but the records before it are signed"),
    )


def test_a_record_without_a_place_in_the_chain_is_inserted_saying_so():
    verdict = verify(build(SIGNED, 1), unchained=[Unchained(chain.KIND_EMAIL, 200, AT, False)])
    assert verdict.breaks == (
        Break(chain.INSERTED, "email_record", 200, None, "it has no place in the chain (no position, link or seal)"),
    )


def test_a_changed_event_is_named_with_its_user_and_the_run_that_names_it():
    verdict = verify(build(SIGNED, 1), events=[EventCheck("job_run:101", 8, 43, "a" * 64, "b" * 64)])
    assert verdict.breaks == (
        Break(chain.EDITED, "ops_event", 8, None, "the UPDATE_USER event of user 43 that job_run 101 names has changed"),
    )
