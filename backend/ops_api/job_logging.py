"""Structured logs for jobs: one JSON object per line on stderr, for the container's log stream."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Any

from ops_api.audit import to_json_value

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """Render a record as one line of JSON: time, level, logger, message and the ``extra`` fields."""

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
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


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
