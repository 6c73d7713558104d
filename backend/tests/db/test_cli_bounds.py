"""Bad options and settings at the CLI: one line on stderr and exit 1 or 2, never a traceback.

Report dates at the ends of the calendar, settings with absurd values, and the
job started as the image starts it without DATABASE_URL.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from cli_runner import FLASK, run_flask
from factories import event_and_history_counts

FLASK_APP = "ops_backend.cli:create_cli_app"


def one_line_error(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert lines[0].startswith("error: "), text
    return lines[0]


# (arguments, the exit code, a piece of the one line) for `flask inactive-users-report`.
REPORT_EDGES = [
    (["--from", "0001-01-01", "--to", "9999-12-31"], 2, "'9999-12-31' is beyond the last day this report can cover"),
    (["--from", "9999-12-30", "--to", "9999-12-31"], 2, "beyond the last day"),
    (["--from", "9999-12-31", "--to", "9999-12-31"], 2, "beyond the last day"),
    (["--from", "0001-01-01T00:00:00+01:00", "--to", "0001-01-02"], 2, "beyond the dates this report can cover"),
    (["--from", "9999-12-31T00:00:00-05:00", "--to", "9999-12-31T23:59:59-05:00"], 2, "beyond the dates"),
    (["--from", "9999-12-31T23:00:00-05:00", "--to", "2026-01-01"], 2, "beyond the dates"),
    (["--from", "0000-01-01", "--to", "0001-01-01"], 2, "is not a date"),
    (["--from", "2026-02-30", "--to", "2026-03-01"], 2, "is not a date"),
    (["--from", "2026-01-01\x00", "--to", "2026-02-01"], 2, "is not a date"),
]
# Periods at the very ends that the calendar can hold: an empty report, exit 0.
REPORT_EDGES_THAT_ANSWER = [
    ["--from", "0001-01-01", "--to", "0001-01-02"],
    ["--from", "0001-01-01T00:00:00", "--to", "0001-12-31", "--format", "json"],
    ["--from", "9999-12-30", "--to", "9999-12-30"],
    ["--from", "9999-12-31T00:00:00", "--to", "9999-12-31T23:59:59.999999", "--format", "json"],
]


@pytest.mark.parametrize(("arguments", "code", "message"), REPORT_EDGES)
def test_report_dates_at_the_ends_of_the_calendar_are_one_line_and_exit_2(app, session, system_admin, arguments, code, message):
    before = event_and_history_counts(session)

    result = app.test_cli_runner().invoke(args=["inactive-users-report", *arguments])

    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in one_line_error(result.stderr)
    assert result.stdout == ""
    session.expire_all()
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize("arguments", REPORT_EDGES_THAT_ANSWER)
def test_report_periods_the_calendar_can_hold_answer_even_at_its_ends(app, system_admin, arguments):
    result = app.test_cli_runner().invoke(args=["inactive-users-report", *arguments])

    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == ""
    assert result.stdout.strip()


def test_the_first_reported_calendar_edge_is_one_line_in_a_real_process(database_url):
    result = run_flask("inactive-users-report", "--from", "0001-01-01", "--to", "9999-12-31", database_url=database_url)

    assert result.returncode == 2
    assert "beyond the last day" in one_line_error(result.stderr)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-disable", str(10**30)], "is not in the range 0<=x<=10000000"),
        (["--days", str(10**30)], "is not in the range 1<=x<=36500"),
        (["--dry-run", "--as-of", "0001-01-01T00:00:00+01:00"], "Invalid value for '--as-of'"),
        (["--dry-run", "--as-of", "9999-12-31T23:59:59-23:59"], "Invalid value for '--as-of'"),
    ],
)
def test_job_options_beyond_range_are_one_line_and_exit_2(app, session, system_admin, arguments, message):
    before = event_and_history_counts(session)

    result = app.test_cli_runner().invoke(args=["disable-inactive-users", *arguments])

    assert result.exit_code == 2, result.output
    assert message in one_line_error(result.stderr)
    session.expire_all()
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPS_SMTP_TIMEOUT", str(10**30), "OPS_SMTP_TIMEOUT must be 600 or less"),
        ("OPS_JWT_ACCESS_TOKEN_EXPIRES", str(10**30), "OPS_JWT_ACCESS_TOKEN_EXPIRES must be 86400 or less"),
        ("OPS_JWT_REFRESH_TOKEN_EXPIRES", str(10**30), "OPS_JWT_REFRESH_TOKEN_EXPIRES must be 2592000 or less"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", str(10**30), "OPS_DEACTIVATION_MAX_PER_RUN must be 10000000 or less"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", "9" * 5000, "OPS_DEACTIVATION_MAX_PER_RUN must be 10000000 or less"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", str(10**30), "OPS_DEACTIVATION_INACTIVE_DAYS must be 36500 or less"),
        ("OPS_DEACTIVATION_WARN_DAYS", "9" * 5000, "OPS_DEACTIVATION_WARN_DAYS: a number that long"),
        ("OPS_SMTP_PORT__NESTED", "1", "is not a mapping"),
    ],
)
def test_an_absurd_setting_stops_the_job_with_one_line_and_exit_1(tmp_path, name, value, message):
    """Settings are read before any database is opened, so one database kind is enough; none is even created."""
    database = tmp_path / "ops.db"

    result = run_flask("disable-inactive-users", database_url=f"sqlite:///{database}", **{name: value})

    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert line.startswith("error: configuration: ") and message in line
    assert len(line) < 400  # the 5,000 digits are not repeated back
    assert not database.exists()


def image_like_env(**extra: str) -> dict[str, str]:
    """What the image gives `flask`: FLASK_APP and FLASK_SKIP_DOTENV, and no DATABASE_URL or OPS_ setting."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPS_", "FLASK_")) and k != "DATABASE_URL"
    }
    env.update(FLASK_APP=FLASK_APP, FLASK_SKIP_DOTENV="1", **extra)
    return env


@pytest.mark.parametrize("env_name", [None, "production"])
def test_the_image_without_database_url_stops_with_one_line_and_exit_1(tmp_path, env_name):
    """The image's default SQLite folder is not writable; a deployed environment never gets that far."""
    extra = {} if env_name is None else {"OPS_ENV_NAME": env_name}
    result = subprocess.run(
        [FLASK, "disable-inactive-users"], cwd=tmp_path, env=image_like_env(**extra),
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert line.startswith("error: configuration: DATABASE_URL is not set;"), line
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no SQLite file was made anywhere it looked


def test_a_development_run_whose_instance_folder_cannot_be_made_stops_with_one_line(tmp_path):
    """A checkout installed where the instance folder cannot be created: one line naming the folder."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    script = (
        "import flask, sys\n"
        f"flask.Flask.auto_find_instance_path = lambda self: {str(blocker / 'instance')!r}\n"
        "from flask.cli import main\n"
        "sys.argv = ['flask', 'disable-inactive-users']\n"
        "main()\n"
    )
    python = os.path.join(os.path.dirname(FLASK), "python")
    result = subprocess.run(
        [python, "-c", script], cwd=tmp_path, env=image_like_env(OPS_ENV_NAME="local"),
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode == 1
    line = one_line_error(result.stderr)
    assert "cannot be created" in line and "set DATABASE_URL" in line


@pytest.mark.parametrize(
    "arguments",
    [
        ["--users", str(10**30), "--replace"],
        ["--users", "1", "--sessions-per-user", str(10**6), "--replace"],
        ["--users", "1", "--seed", str(10**30), "--replace"],
        ["--users", "1", "--due", str(10**30), "--replace"],
        ["--users", "1", "--as-of", "0001-01-01T00:00:00+01:00", "--replace"],
    ],
)
def test_bulk_loader_options_beyond_range_are_one_line_and_exit_2(app, session, system_admin, arguments):
    """Even in a development environment (the test app's "test"): refused before anything is emptied."""
    before = event_and_history_counts(session)

    result = app.test_cli_runner().invoke(args=["seed-load", *arguments])

    assert result.exit_code == 2, result.output
    assert "Invalid value" in one_line_error(result.stderr)
    session.expire_all()
    assert event_and_history_counts(session) == before
