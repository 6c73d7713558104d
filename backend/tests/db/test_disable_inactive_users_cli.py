"""`flask disable-inactive-users`: report, logs, exit codes, refusals.

The command runs in this process on the test's app with the clock frozen at
JOB_NOW, around which the shared ``population`` fixture is built. Real
processes remain where the process is the point: the exit status the platform
sees, for a database that does not answer and for a setting from the
environment.
"""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ops_api.models import OpsDBHistory, OpsEvent, User, UserStatus

from cli_runner import app_on, invoke, invoke_flask, run_flask
from factories import JOB_NOW, make_real_clock_population, refuse_deactivation_of, remove_refusal, run_records

DAY = timedelta(days=1)
NOW = JOB_NOW


def run_job(app, *args):
    return invoke(app, "disable-inactive-users", *args, now=NOW)


def snapshot(session):
    """Users, events and history in OPS's tables (the job's own run records live apart: see run_summaries)."""
    session.expire_all()
    statuses = tuple(session.scalars(select(User.status).order_by(User.id)))
    counts = (
        session.scalar(select(func.count()).select_from(OpsEvent)),
        session.scalar(select(func.count()).select_from(OpsDBHistory)),
    )
    return statuses, counts


def run_summaries(session):
    return run_records(session)


def test_a_run_disables_due_users_and_prints_the_json_report(app, session, population):
    result = run_job(app, "--format", "json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"dry_run", "as_of", "threshold_days", "candidates", "disabled", "failed", "skipped_reason"}
    due_ids = [u.id for u in population["due"]]
    assert report["disabled"] == due_ids
    assert [c["user_id"] for c in report["candidates"]] == due_ids
    assert set(report["candidates"][0]) == {"user_id", "email", "last_seen", "days_inactive"}
    assert report["candidates"][0]["days_inactive"] == 400
    assert report["candidates"][0]["last_seen"] == (NOW - 400 * DAY).isoformat()
    assert report["as_of"] == NOW.isoformat()
    assert report["threshold_days"] == 60 and report["dry_run"] is False and report["failed"] == []
    session.expire_all()
    assert [u.status for u in population["due"]] == [UserStatus.INACTIVE, UserStatus.INACTIVE]
    assert population["recent"].status is UserStatus.ACTIVE


def test_the_logs_are_json_lines_one_per_disabled_user_and_one_summary(app, population):
    result = run_job(app)

    lines = [json.loads(line) for line in result.stderr.splitlines()]
    disabled = [line for line in lines if line.get("event") == "user_disabled"]
    summaries = [line for line in lines if line.get("event") == "run_summary"]
    assert [d["user_id"] for d in disabled] == [u.id for u in population["due"]]
    assert {"email", "last_seen", "days_inactive"} <= set(disabled[0])
    assert len(summaries) == 1
    assert summaries[0]["disabled"] == 2 and summaries[0]["outcome"] == "completed"
    assert "duration_seconds" in summaries[0]
    assert result.stdout and not result.stdout.lstrip().startswith("{")  # the report, not the logs, is on stdout


def test_the_logs_of_a_second_run_in_the_same_process_are_not_doubled(app, population):
    run_job(app, "--dry-run")
    result = run_job(app, "--dry-run")

    summaries = [line for line in map(json.loads, result.stderr.splitlines()) if line.get("event") == "run_summary"]
    assert len(summaries) == 1


def test_the_text_report_names_who_and_what_was_done(app, population):
    result = run_job(app, "--dry-run")

    assert result.exit_code == 0
    assert "idle400@example.gov" in result.stdout
    assert "400 days" in result.stdout
    assert "would be disabled" in result.stdout


def test_a_dry_run_changes_nothing(app, session, population):
    before = snapshot(session)

    result = run_job(app, "--dry-run", "--format", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["disabled"] == []
    assert snapshot(session) == before
    (summary,) = run_summaries(session)  # its only trace: the run record
    assert summary.dry_run is True and summary.outcome == "completed"


def test_a_dry_run_as_of_a_later_date_previews_who_would_go(app, population):
    later = (NOW + 40 * DAY).isoformat()

    result = run_job(app, "--dry-run", "--as-of", later, "--days", "30", "--format", "json")

    report = json.loads(result.stdout)
    assert len(report["candidates"]) == 3  # the recent user too, 41 days idle by then
    assert report["threshold_days"] == 30
    assert report["as_of"] == later


def test_a_run_refused_by_the_safety_cap_exits_3_and_changes_nothing(app, session, population):
    before = snapshot(session)

    result = run_job(app, "--max-disable", "1")

    assert result.exit_code == 3
    assert "refused by the safety cap" in result.stdout
    assert snapshot(session) == before
    (summary,) = run_summaries(session)
    assert summary.outcome == "refused_by_cap"


def test_the_cap_comes_from_the_environment(app_from_env, population):
    result = invoke(app_from_env(OPS_DEACTIVATION_MAX_PER_RUN="1"), "disable-inactive-users", now=NOW)

    assert result.exit_code == 3


def test_a_real_process_exits_3_when_refused_by_the_cap_from_the_environment(session, database_url):
    make_real_clock_population(session)  # a separate process runs on the real clock

    result = run_flask("disable-inactive-users", database_url=database_url, OPS_DEACTIVATION_MAX_PER_RUN="1")

    assert result.returncode == 3
    assert "refused by the safety cap" in result.stdout


def test_a_second_run_has_nothing_to_do_and_exits_0(app, session, population):
    run_job(app)
    before = snapshot(session)

    result = run_job(app, "--format", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["disabled"] == []
    assert snapshot(session) == before
    assert [run.disabled for run in run_summaries(session)] == [2, 0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days"),
        (["--days", "-3"], "--days"),
        (["--days", "sixty"], "--days"),
        (["--days", "1000000"], "--days"),
        (["--as-of", "0001-01-02", "--dry-run"], "--as-of"),
        (["--as-of", "next tuesday", "--dry-run"], "--as-of"),
        (["--as-of", "2026-12-31"], "only with --dry-run"),
        (["--format", "xml"], "--format"),
        (["--max-disable", "-1"], "--max-disable"),
        (["--no-such-option"], "no-such-option"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_change_nothing(app, session, population, args, message):
    before = snapshot(session)

    result = run_job(app, *args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert snapshot(session) == before
    assert run_summaries(session) == []  # the run never started


def test_an_unreachable_database_exits_1_with_one_line():
    # A real process: the exit status and the one line the platform sees when the database does not answer.
    result = run_flask("disable-inactive-users", database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot connect to the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_without_schema_exits_1_and_names_flask_db_upgrade(tmp_path):
    with app_on(f"sqlite:///{tmp_path / 'empty.db'}") as empty:
        result = invoke(empty, "disable-inactive-users")

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "flask db upgrade" in result.stderr


def test_a_postgresql_schema_without_tables_exits_1_and_names_flask_db_upgrade(pg_schema_url, test_schema, monkeypatch):
    monkeypatch.setenv("OPS_DB_SCHEMA", f"{test_schema}_no_such_schema")

    with app_on(pg_schema_url) as app:
        result = invoke(app, "disable-inactive-users")

    assert result.exit_code == 1
    assert "holds no OPS user table" in result.stderr
    assert "flask db upgrade" in result.stderr


def test_a_failed_user_makes_the_run_exit_1(app, session, population):
    blocker = population["due"][1]
    refuse_deactivation_of(session, blocker.id)
    try:
        result = run_job(app, "--format", "json")
    finally:
        remove_refusal(session)

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["disabled"] == [population["due"][0].id]  # the others are still disabled
    assert [f["user_id"] for f in report["failed"]] == [blocker.id]
    assert "refused by test trigger" in report["failed"][0]["error"]


def test_help_documents_every_exit_code(app):
    result = invoke(app, "disable-inactive-users", "--help")

    assert result.exit_code == 0
    for code in ("0  success", "1  failure", "2  usage error", "3  refused by the safety cap"):
        assert code in result.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "0"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "soon"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "²"),
        ("OPS_DEACTIVATION_INACTIVE_DAYS", "1000000"),
        ("OPS_DEACTIVATION_MAX_PER_RUN", "-2"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "not-a-uuid"),
        ("OPS_DEACTIVATION_EXCLUDED_OIDC_IDS", "[1, 2"),
        ("OPS_ALERT_URLS", "not a url"),
        ("OPS_ALERT_URLS", '["json://127.0.0.1:9/x", 42]'),
        ("OPS_FAKEAUTH_ENABLED", "maybe"),
        ("OPS_JWT_SECRET_KEY", "too-short"),
        ("OPS_JWT_ACCESS_TOKEN_EXPIRES", "0"),
        ("OPS_JWT_REFRESH_TOKEN_EXPIRES", "soon"),
    ],
)
def test_an_unusable_setting_exits_1_with_one_line_and_changes_nothing(session, population, database_url, name, value):
    before = snapshot(session)

    result = invoke_flask("disable-inactive-users", database_url=database_url, **{name: value})

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert name in result.stderr
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [("not a url", "is not a database URL"), ("mysql://ops@127.0.0.1/ops", "use PostgreSQL")],
)
def test_an_unusable_database_url_exits_1_with_one_line_that_does_not_repeat_it(url, message):
    result = invoke_flask("disable-inactive-users", database_url=url)

    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "ops@127.0.0.1" not in result.stderr
