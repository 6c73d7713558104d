"""Structured logs for jobs: one JSON object per line on stderr, for the container's log stream."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ops_api.audit import to_json_value
from ops_api.errors import describe_error

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


# No line longer than this (bytes of UTF-8): a log pipeline drops or splits longer ones.
MAX_LINE_BYTES = 8 * 1024
# What a shortened value keeps: characters of a string, items of a list.
_SHORT_TEXT = 500
_SHORT_LIST = 10
_KEPT_TEXT = 200
# Frames of a traceback kept (the innermost).
_FRAMES = 12


class JsonLineFormatter(logging.Formatter):
    """Render a record as one line of JSON: time, level, logger, message and the ``extra`` fields.

    A line never holds SQL text or parameters (an exception is shown by its
    type, its driver's one-line message and the frames it passed through, not
    by SQLAlchemy's full text) and never exceeds MAX_LINE_BYTES: long values
    are shortened, and ``"truncated": true`` says so.
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                document[key] = to_json_value(value)
        if record.exc_info and record.exc_info[1] is not None:
            document["exception"] = exception_summary(record.exc_info[1])
        return bounded_line(document)


def exception_summary(exc: BaseException) -> str:
    """An exception for a log: each exception of the chain in one line, and the innermost frames; no SQL."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)[-_FRAMES:]
        where = " < ".join(f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames))
        parts.append(f"{describe_error(current)}" + (f" at {where}" if where else ""))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return " | caused by: ".join(parts)


def bounded_line(document: dict[str, Any]) -> str:
    """``document`` as one JSON line of at most MAX_LINE_BYTES, shortening its values if it must."""
    line = json.dumps(document, default=str)
    if len(line.encode()) <= MAX_LINE_BYTES:
        return line
    shortened = {key: _shorten(value) for key, value in document.items()}
    shortened["truncated"] = True
    line = json.dumps(shortened, default=str)
    if len(line.encode()) <= MAX_LINE_BYTES:
        return line
    # The last resort: five fields of at most _KEPT_TEXT characters, each at most 6 bytes once escaped.
    kept: dict[str, Any] = {key: _cut(document[key], _KEPT_TEXT) for key in ("time", "level", "logger", "event") if key in document}
    kept["message"] = _cut(document.get("message", ""), _KEPT_TEXT)
    kept["truncated"] = True
    return json.dumps(kept, default=str)


def _cut(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, _SHORT_TEXT)
    if isinstance(value, list) and len(value) > _SHORT_LIST:
        return [_shorten(item) for item in value[:_SHORT_LIST]] + [f"... ({len(value)} items)"]
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    return value


# How many lines of one kind (one per user, one per message) a run writes; the step's summary counts the rest.
LOG_SAMPLE = 100


class LogSample:
    """Counts the lines of one kind and lets the first ``limit`` through."""

    def __init__(self, limit: int = LOG_SAMPLE) -> None:
        self.limit = limit
        self.seen = 0

    def take(self) -> bool:
        """Whether this line is within the sample (call once per line)."""
        self.seen += 1
        return self.seen <= self.limit

    @property
    def left_out(self) -> int:
        return max(self.seen - self.limit, 0)


class _StderrHandler(logging.StreamHandler[IO[str]]):
    """Write to whatever ``sys.stderr`` is when a record comes, not what it was when the handler was made.

    A command run in process (a test runner, an embedding caller) may swap
    ``sys.stderr`` for a while; a handler holding the old object would write
    into a closed capture afterwards.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def configure_job_logging(stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send the application's logs (logger ``ops_api``) to ``stream`` (default: stderr) as JSON lines.

    Idempotent: a second call replaces the JSON handler of the first.
    """
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonLineFormatter())
    app_logger = logging.getLogger("ops_api")
    for existing in list(app_logger.handlers):
        if isinstance(existing.formatter, JsonLineFormatter):
            app_logger.removeHandler(existing)
    app_logger.addHandler(handler)
    app_logger.setLevel(level)
    app_logger.propagate = False
    return handler
