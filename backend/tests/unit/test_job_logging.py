"""The job's log lines: one JSON object each, never longer than 8 KiB, never any SQL text or parameter."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from ops_api.job_logging import MAX_LINE_BYTES, JsonLineFormatter, LogSample, bounded_line

FORMATTER = JsonLineFormatter()
SECRET_SQL = "UPDATE ops.ops_user SET status = %(status)s WHERE ops.ops_user.email = %(email)s"
SECRET_PARAMETER = "dmitri.longgone@example.gov"


def record(message: str = "run finished", *, name: str = "ops_api.job", exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def line_of(made: logging.LogRecord) -> tuple[str, dict]:
    line = FORMATTER.format(made)
    return line, json.loads(line)


def test_a_short_record_is_one_json_line_with_its_extra_fields():
    line, document = line_of(record(event="run_finished", disabled=3))

    assert "\n" not in line
    assert document["message"] == "run finished" and document["event"] == "run_finished" and document["disabled"] == 3
    assert "truncated" not in document


def test_a_long_text_field_is_shortened_to_fit_and_marked_truncated():
    line, document = line_of(record(event="run_failed", detail="x" * 50_000))

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert document["truncated"] is True and document["event"] == "run_failed"
    assert document["detail"].endswith("... (50000 characters)")


def test_a_list_of_100000_user_ids_keeps_the_first_ten_and_counts_the_rest():
    line, document = line_of(record(event="users_disabled", user_ids=list(range(100_000))))

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert document["user_ids"] == [*range(10), "... (100000 items)"]


def test_a_record_too_wide_to_shorten_keeps_only_time_level_logger_event_and_message():
    line, document = line_of(record(event="wide", **{f"field_{n}": n for n in range(5_000)}))

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert set(document) == {"time", "level", "logger", "event", "message", "truncated"}


def test_even_the_kept_fields_are_cut_when_they_alone_are_too_long():
    wide = {f"field_{n}": n for n in range(5_000)}
    line, document = line_of(record("é" * 20_000, name="ops_api." + "n" * 20_000, event="e" * 20_000, **wide))

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert document["truncated"] is True


def test_an_exception_from_a_statement_is_logged_without_its_sql_or_parameters():
    try:
        raise OperationalError(SECRET_SQL, {"status": "INACTIVE", "email": SECRET_PARAMETER}, Exception("server closed the connection"))
    except OperationalError:
        line, document = line_of(record("step failed", exc_info=sys.exc_info(), event="step_failed"))

    assert document["exception"].startswith("Exception: server closed the connection at test_job_logging.py:")
    assert "ops_user" not in line and SECRET_PARAMETER not in line and "%(" not in line


def test_a_chained_exception_names_each_cause_on_the_same_line():
    try:
        try:
            raise ValueError("the inner one")
        except ValueError as inner:
            raise RuntimeError("the outer one") from inner
    except RuntimeError:
        line, document = line_of(record("step failed", exc_info=sys.exc_info()))

    assert "\n" not in line
    assert document["exception"].startswith("RuntimeError: the outer one at ")
    assert " | caused by: ValueError: the inner one at " in document["exception"]


def test_a_sample_lets_the_first_hundred_lines_through_and_counts_the_rest():
    sample = LogSample()

    taken = [sample.take() for _ in range(250)]

    assert taken == [True] * 100 + [False] * 150
    assert sample.left_out == 150


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=2_000),
    lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=20), inner, max_size=30),
    max_leaves=60,
)
# Text long enough to overflow a line by itself, in any script (up to 6 bytes per character once escaped).
long_text = st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(0, 3_000))


@settings(max_examples=60, deadline=None)
@given(
    document=st.dictionaries(st.text(max_size=40), json_values, max_size=20),
    kept=st.fixed_dictionaries({"event": long_text, "logger": long_text, "message": long_text}),
)
def test_any_document_becomes_one_json_line_within_the_limit(document, kept):
    line = bounded_line({**document, **kept})

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert "\n" not in line
    assert isinstance(json.loads(line), dict)


@pytest.mark.parametrize("size", [1, 7_000, 9_000, 200_000])
def test_a_message_of_any_size_fits(size):
    line, document = line_of(record("m" * size))

    assert len(line.encode()) <= MAX_LINE_BYTES
    assert document["message"].startswith("m")
