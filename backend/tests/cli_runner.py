"""Run CLI commands in tests: in this process on the test's app, or as a real `flask` subprocess.

In process (``invoke``, ``invoke_flask``) is the default: it is fast and the
test can freeze the clock. A real subprocess (``run_flask``, ``start_flask``)
is for what only a process shows: signals, concurrent runs, the entry point
and .flaskenv, the exit status the platform sees.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner, Result
from dotenv import dotenv_values
from flask import Flask
from flask.cli import FlaskGroup
from freezegun import freeze_time

from ops_backend.cli import register_commands

REPO_ROOT = Path(__file__).resolve().parents[2]
# The settings that name the test's PostgreSQL schemas: kept when a test builds another app or process.
SCHEMA_SETTINGS = ("OPS_DB_SCHEMA", "OPS_DEACTIVATION_SCHEMA")
FLASK = str(Path(sys.executable).with_name("flask"))
# The evidence key of every command a test runs (a deployed environment's job refuses to run without one).
# Made afresh for each test run, as a deployment makes its own: a key written in the source would be published.
TEST_EVIDENCE_KEY = secrets.token_urlsafe(48)


def in_process_env(**extra: str) -> dict[str, str | None]:
    """The OPS_ settings a `flask` process started from the repository root would see, for a run in this process.

    None unsets a variable. As ``flask_env`` does for a subprocess, the test's
    own OPS_ variables go, except the test's schemas (OPS_DB_SCHEMA and OPS_DEACTIVATION_SCHEMA, when a
    fixture sets one); what .flaskenv sets comes in, then ``extra``.
    """
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("OPS_") and name not in SCHEMA_SETTINGS}
    env.update({name: value for name, value in dotenv_values(REPO_ROOT / ".flaskenv").items() if name.startswith("OPS_")})
    env["OPS_EVIDENCE_KEY"] = TEST_EVIDENCE_KEY
    env.update(extra)
    return env


def flask_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_") and k != "FLASK_APP"}
    env["DATABASE_URL"] = database_url
    env["OPS_EVIDENCE_KEY"] = TEST_EVIDENCE_KEY
    for name in SCHEMA_SETTINGS:  # the test's own schemas (see conftest)
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def run_flask(*args: str, database_url: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, *args],
        cwd=REPO_ROOT,
        env=flask_env(database_url, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class StartedFlask:
    """A `flask` process running in the background, its output going to files (a pipe nobody reads fills up)."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str]) -> None:
        self._stdout = tempfile.TemporaryFile(mode="w+")
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [FLASK, *args], cwd=REPO_ROOT, env=env, stdout=self._stdout, stderr=self._stderr, text=True
        )

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def communicate(self, timeout: float) -> tuple[str, str]:
        """Wait for the process to end; return what it wrote to stdout and stderr."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        outputs = []
        for stream in (self._stdout, self._stderr):
            stream.seek(0)
            outputs.append(stream.read())
            stream.close()
        return outputs[0], outputs[1]


def start_flask(*args: str, database_url: str, **extra_env: str) -> StartedFlask:
    return StartedFlask(args, flask_env(database_url, **extra_env))


def invoke(app: Flask, *args: str, now: datetime | None = None) -> Result:
    """Run ``app``'s command ``args`` in this process (Flask's test CLI runner).

    The command gets an application context, and so a database session, of its
    own, as a separate process would: it sees what the test committed, and the
    test sees what it committed after ``session.expire_all()``.
    ``result.exit_code`` is the exit code; ``result.stdout`` and
    ``result.stderr`` are kept apart. An exception the command does not handle
    fails the test instead of becoming exit code 1.

    With ``now``, the command runs with the clock frozen there; the timeouts
    of child processes (the alert's notifier) and asyncio's loops (the test
    SMTP server) keep real time.
    """
    frozen = freeze_time(now, ignore=["subprocess"], real_asyncio=True) if now is not None else contextlib.nullcontext()
    with frozen, app.app_context():
        return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def invoke_flask(*args: str, database_url: str, **extra_env: str) -> Result:
    """``flask *args`` as FLASK_APP names it, in this process, with the environment of ``in_process_env``.

    For what happens while the app is built (a setting it cannot use). An app
    built here is never cleaned up, so use it where building the app should
    fail; for a command that reaches the database use ``invoke`` on an app
    from the ``app_from_env`` fixture.
    """
    from ops_backend.cli import create_cli_app

    # FlaskGroup sets FLASK_RUN_FROM_CLI; naming it here has the runner put it back afterwards.
    env = in_process_env(FLASK_APP=None, FLASK_RUN_FROM_CLI=None, DATABASE_URL=database_url, **extra_env)
    group = FlaskGroup(create_app=create_cli_app, load_dotenv=False)
    return CliRunner().invoke(group, list(args), env=env, catch_exceptions=False)


def cli_app(config: dict[str, object] | None = None) -> Flask:
    """``create_app(config)`` with the commands registered, as the ``flask`` command's ``create_cli_app`` builds it."""
    from ops_api import create_app

    application = create_app(config)
    register_commands(application)
    return application


@contextlib.contextmanager
def app_on(database_url: str) -> Iterator[Flask]:
    """An app on a database other than the test's (one without the schema, say); its engine is disposed of after."""
    from ops_api.extensions import db

    application = cli_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "EVIDENCE_KEY": TEST_EVIDENCE_KEY})
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()
