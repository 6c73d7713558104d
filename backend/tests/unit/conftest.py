"""The unit layer: no database, no process, no server. A test here that tries to open one fails at once."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy.pool


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test may not {what}; it belongs in tests/db or tests/process")

    return refuse


@pytest.fixture(autouse=True)
def _no_database_process_or_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sqlalchemy.pool.Pool, "connect", _refuse("connect to a database"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    monkeypatch.setattr(socket.socket, "listen", _refuse("listen on a socket"))
    monkeypatch.setattr(socket.socket, "connect", _refuse("connect a socket"))
    yield
