"""The signed chain of the job's own records, on both databases: written by the job, verified by the report and health.

Every test tampers the way someone with SQL access would (DELETE, UPDATE,
INSERT on the project's tables and on ops_event) and asserts that the report
and the health check name the exact record.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import threading
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from freezegun import freeze_time
from sqlalchemy.orm import Session

from ops_api.domain import evidence_chain as chain
from ops_api.models import EmailRecord, JobRun, OpsEvent, RecordStatus
from ops_api.services import evidence
from ops_api.services.job import job_runs
from ops_api.services.job.hourly_job import EXIT_FAILED, JobOptions, run_hourly_job
from ops_api.services.mail.notifications import MailSettings, Notification, NotificationService
from ops_api.services.report.deactivation_report import build_report
from ops_api.services.report.report_html import render_evidence_page
from ops_api.services.users.user_deactivation import DeactivationReport
from ops_api.sql import qualified

import factories
from api_support import bearer, error_of
from cli_runner import invoke

KEY = "evidence-key-of-the-tests-only-0123456789abcdef"
OLD_KEY = "an-older-evidence-key-of-the-tests-9876543210"
FORGER_KEY = "a-key-the-job-never-had-000000000000000000000"
NOW = datetime(2026, 9, 1, 12, 30, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def use_keys(app, key: str | None = KEY, previous: tuple[str, ...] = ()) -> chain.EvidenceKeys:
    app.config["EVIDENCE_KEY"] = key
    app.config["EVIDENCE_PREVIOUS_KEYS"] = previous
    return evidence.keys_from_config(app.config)


def hourly_runs(session, count: int, *, start: datetime = NOW) -> list[JobRun]:
    for hour in range(count):
        with freeze_time(start + hour * HOUR):
            factories.run_job(session)
    return factories.run_records(session)


def report(app, session, *, now: datetime = NOW + DAY):
    return build_report(
        session, start=NOW - DAY, end=NOW + 2 * DAY, now=now, threshold_days=60,
        keys=evidence.keys_from_config(app.config),
    )


def health(app, session, *, now: datetime = NOW + 5 * HOUR):
    return job_runs.job_health(session, max_age=timedelta(days=2), now=now, keys=evidence.keys_from_config(app.config))


def execute(session, statement: str, **parameters) -> None:
    session.execute(sa.text(statement), parameters)
    session.commit()
    session.expire_all()


def job_run_table(session) -> str:
    return qualified(session, "job_run", own=True)


def test_runs_are_linked_in_order_and_signed_with_the_key_id(app, session, system_admin):
    use_keys(app)
    runs = hourly_runs(session, 3)

    assert [run.chain_seq for run in runs] == [1, 2, 3]
    assert runs[0].chain_prev == chain.GENESIS and runs[0].chain_prev_record is None
    assert runs[1].chain_prev_record == f"job_run:{runs[0].id}"
    assert {run.chain_key_id for run in runs} == {hashlib.sha256(KEY.encode()).hexdigest()[:8]}
    verdict = report(app, session).chain
    assert verdict.intact and verdict.signing == "signed" and verdict.records == 3
    assert verdict.describe().startswith(f"chain intact from job_run {runs[0].id} (2026-09-01T12:30:00+00:00) to job_run {runs[2].id}")
    assert verdict.describe().endswith("3 records, signed")
    assert health(app, session).healthy


def test_the_key_is_stored_nowhere_in_the_records(app, session, system_admin):
    use_keys(app)
    hourly_runs(session, 1)

    rows = session.execute(sa.text(f"SELECT * FROM {job_run_table(session)}")).mappings().all()
    assert rows and all(KEY not in str(value) for row in rows for value in row.values())


def test_deleting_a_run_record_by_sql_is_named_by_the_report_and_the_health_check(app, session, system_admin):
    use_keys(app)
    deleted = hourly_runs(session, 3)[1].id
    execute(session, f"DELETE FROM {job_run_table(session)} WHERE id = :id", id=deleted)

    verdict = report(app, session).chain
    assert not verdict.intact
    (broken,) = verdict.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("deleted", "job_run", deleted)
    checked = health(app, session)
    assert not checked.healthy and checked.status == "chain_broken"
    assert f"job_run {deleted} deleted" in checked.describe()


def test_editing_a_run_record_by_sql_is_named(app, session, system_admin):
    use_keys(app)
    runs = hourly_runs(session, 3)
    execute(session, f"UPDATE {job_run_table(session)} SET disabled = 7 WHERE id = :id", id=runs[1].id)

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("edited", "job_run", runs[1].id)
    assert f"job_run {runs[1].id} edited" in health(app, session).describe()


def test_a_forged_record_without_a_place_in_the_chain_is_named_inserted(app, session, system_admin):
    use_keys(app)
    hourly_runs(session, 2)
    execute(
        session,
        f"INSERT INTO {job_run_table(session)} (started_at, status, outcome, dry_run, errors, reconciled)"
        " VALUES (:at, 'SUCCESS', 'completed', :no, '[]', :no)",
        at=(NOW + timedelta(minutes=90)).replace(tzinfo=None), no=False,
    )
    forged = max(run.id for run in factories.run_records(session))

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("inserted", "job_run", forged)
    assert not health(app, session).healthy


def test_a_forger_without_the_key_cannot_make_a_record_that_verifies(app, session, system_admin):
    use_keys(app)
    runs = hourly_runs(session, 2)
    # The forger copies the newest record, links it correctly and seals it under a key of their own.
    copy = runs[-1]
    execute(
        session,
        f"INSERT INTO {job_run_table(session)} (started_at, finished_at, status, outcome, dry_run, errors, reconciled,"
        " candidates, disabled, failed, no_longer_due, threshold_days, max_disable, created_by)"
        " VALUES (:at, :at, 'SUCCESS', 'completed', :no, '[]', :no, 0, 0, 0, 0, 60, 50, :by)",
        at=(NOW + 2 * HOUR).replace(tzinfo=None), no=False, by=copy.created_by,
    )
    forged = session.scalars(sa.select(JobRun).order_by(JobRun.id.desc())).first()
    entry = evidence._entry(copy)
    forged.chain_seq, forged.chain_prev, forged.chain_prev_record = entry.seq + 1, entry.link, entry.name
    # Under the forger's key (an unknown key id), and under the job's key id with the forger's key.
    forged.chain_key_id, forged.chain_seal = chain.seal(chain.EvidenceKeys.from_settings(FORGER_KEY), evidence.content_of(forged))
    session.commit()

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("inserted", "job_run", forged.id)

    forged.chain_key_id = chain.key_id_of(KEY.encode())
    content = evidence.content_of(forged)
    forged.chain_seal = hmac.new(FORGER_KEY.encode(), chain.canonical_bytes({**content, "chain_key_id": forged.chain_key_id}),
                                 hashlib.sha256).hexdigest()
    session.commit()
    verdict = report(app, session).chain
    assert [(b.kind, b.record_id) for b in verdict.breaks] == [("job_run", forged.id)]
    assert not health(app, session).healthy


def test_deleting_the_update_user_event_a_run_wrote_is_caught(app, session, system_admin):
    use_keys(app)
    idle = factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    (run,) = hourly_runs(session, 1)
    (named,) = run.disabled_events
    event = session.get(OpsEvent, named["event_id"])
    assert named["user_id"] == idle.id and event.event_details["user_id"] == idle.id
    assert named["sha256"] == evidence.event_digest(event)
    assert report(app, session).chain.intact

    execute(session, f"DELETE FROM {qualified(session, 'ops_event')} WHERE id = :id", id=named["event_id"])

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("deleted", "ops_event", named["event_id"])
    assert f"ops_event {named['event_id']} deleted" in health(app, session).describe()


def test_editing_the_update_user_event_a_run_wrote_is_caught(app, session, system_admin):
    use_keys(app)
    factories.make_user(session, email="idle@example.gov", created_on=NOW - 400 * DAY)
    session.commit()
    (run,) = hourly_runs(session, 1)
    (named,) = run.disabled_events
    event = session.get(OpsEvent, named["event_id"])
    event.event_details = {**event.event_details, "reason": "disabled by hand"}
    session.commit()

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("edited", "ops_event", named["event_id"])
    assert not health(app, session).healthy


def test_records_sealed_under_the_previous_key_verify_after_rotation(app, session, system_admin):
    use_keys(app, OLD_KEY)
    old = hourly_runs(session, 2)
    use_keys(app, KEY, previous=(OLD_KEY,))
    runs = hourly_runs(session, 2, start=NOW + 2 * HOUR)

    assert {run.chain_key_id for run in runs[2:]} == {chain.key_id_of(KEY.encode())}
    assert {run.chain_key_id for run in old} == {chain.key_id_of(OLD_KEY.encode())}
    verdict = report(app, session).chain
    assert verdict.intact and verdict.signing == "signed" and verdict.records == 4
    assert health(app, session).healthy


def test_a_record_under_a_key_no_longer_listed_does_not_verify(app, session, system_admin):
    use_keys(app, OLD_KEY)
    (old,) = hourly_runs(session, 1)
    use_keys(app, KEY)
    hourly_runs(session, 1, start=NOW + HOUR)

    (broken,) = report(app, session).chain.breaks
    assert broken.record_id == old.id and chain.key_id_of(OLD_KEY.encode()) in broken.detail


def test_without_a_key_records_are_chained_but_unsigned(app, session, system_admin):
    use_keys(app, None)
    runs = hourly_runs(session, 2)

    assert [run.chain_key_id for run in runs] == [None, None] and [run.chain_seq for run in runs] == [1, 2]
    verdict = report(app, session).chain
    assert verdict.intact and verdict.signing == "unsigned"
    assert verdict.describe().endswith("2 records, unsigned")


def test_records_from_before_the_chain_are_reported_as_such(app, session, system_admin):
    use_keys(app)
    execute(
        session,
        f"INSERT INTO {job_run_table(session)} (started_at, status, outcome, dry_run, errors, reconciled)"
        " VALUES (:at, 'SUCCESS', 'completed', :no, '[]', :no)",
        at=(NOW - HOUR).replace(tzinfo=None), no=False,
    )
    hourly_runs(session, 2)

    verdict = report(app, session).chain
    assert verdict.intact and verdict.before_chain == 1 and verdict.records == 2
    assert "1 older records from before the chain began" in verdict.describe()


def test_the_job_does_not_reseal_a_record_someone_changed_while_it_ran(app, session, system_admin):
    keys = use_keys(app)
    run_id = job_runs.record_start(session, dry_run=False, threshold_days=60, max_disable=50, as_of=NOW, started_at=NOW,
                                   keys=keys)
    execute(session, f"UPDATE {job_run_table(session)} SET max_disable = 0 WHERE id = :id", id=run_id)

    job_runs.record_run(session, DeactivationReport(as_of=NOW, threshold_days=60, dry_run=False, max_disable=0),
                        run_id=run_id, now=NOW + timedelta(seconds=5), keys=keys)

    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.record_id) == ("edited", run_id)


def test_email_records_join_the_same_chain_and_completing_them_keeps_it_intact(app, session, system_admin):
    keys = use_keys(app)
    (run,) = hourly_runs(session, 1)

    class Outbox:
        """A transport that keeps what it is handed (the message itself is not under test here)."""

        def __init__(self) -> None:
            self.sent = []

        def send(self, message) -> None:
            self.sent.append(message)

    service = NotificationService(session, MailSettings.from_config(app.config), factories.deactivation_service(session),
                                  clock=lambda: NOW + timedelta(minutes=1), evidence_keys=keys)
    notification = Notification(kind="deactivation_notice", recipient="idle@example.gov", recipient_user_id=None,
                                subject="Your account was disabled", text_body="text", html_body="<p>html</p>")
    outbox = Outbox()
    service._send_one(outbox, notification, created_by=system_admin.id)

    record = session.get(EmailRecord, notification.record_id)
    record_id = record.id
    assert record.status is RecordStatus.SUCCESS and outbox.sent
    assert record.chain_seq == 2 and record.chain_prev_record == f"job_run:{run.id}"
    verdict = report(app, session).chain
    assert verdict.intact and verdict.records == 2 and verdict.last.kind == "email_record"

    hourly_runs(session, 1, start=NOW + HOUR)
    execute(session, f"DELETE FROM {qualified(session, 'email_record', own=True)} WHERE id = :id", id=record_id)
    (broken,) = report(app, session).chain.breaks
    assert (broken.what, broken.kind, broken.record_id) == ("deleted", "email_record", record_id)


def test_the_evidence_page_says_where_the_chain_holds_or_breaks(app, session, system_admin):
    use_keys(app)
    runs = hourly_runs(session, 2)
    page = render_evidence_page(report(app, session), environment="test", version="1")
    assert f"Chain intact from job_run {runs[0].id}" in page and "2 records, signed" in page

    execute(session, f"UPDATE {job_run_table(session)} SET outcome = 'completed', candidates = 9 WHERE id = :id",
            id=runs[0].id)
    page = render_evidence_page(report(app, session), environment="test", version="1")
    assert f"the first broken link is job_run {runs[0].id}, edited" in page


def test_a_run_after_tampering_alerts_and_says_so(app, session, system_admin):
    use_keys(app)
    deleted = hourly_runs(session, 2)[0].id
    execute(session, f"DELETE FROM {job_run_table(session)} WHERE id = :id", id=deleted)

    app.config["ALERT_URLS"] = ()
    with freeze_time(NOW + 2 * HOUR):
        result = run_hourly_job(session, dict(app.config), options=JobOptions(send_email=False),
                                migrations_directory=app.extensions["migrate"].directory)
    assert result.chain is not None and not result.chain.intact
    assert any(f"job_run {deleted} deleted" in error for error in result.errors)


def test_a_deployed_environment_refuses_to_run_the_job_without_a_key(app, session, system_admin):

    config = {**app.config, "EVIDENCE_KEY": None, "EVIDENCE_KEY_REQUIRED": True}
    result = run_hourly_job(session, config, options=JobOptions(), migrations_directory=app.extensions["migrate"].directory)
    assert result.exit_code == EXIT_FAILED and result.could_not_run.startswith("OPS_EVIDENCE_KEY is not set")
    assert factories.run_records(session) == []


def test_two_writers_never_fork_the_chain(app, session, system_admin, database_url):
    keys = use_keys(app)
    engine = factories.open_engine(database_url)

    errors = []

    def write(count: int) -> None:
        try:
            for _ in range(count):
                with Session(bind=engine) as own:
                    evidence.append_record(own, JobRun(started_at=NOW, status=RecordStatus.SUCCESS, outcome="completed",
                                                       dry_run=True, errors=[]), keys)
                    own.commit()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(10,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engine.dispose()

    assert errors == []
    session.expire_all()
    assert sorted(run.chain_seq for run in factories.run_records(session)) == list(range(1, 21))
    assert report(app, session).chain.intact


def test_the_health_endpoint_answers_503_naming_the_deleted_record(app, client, session, system_admin):

    use_keys(app)
    deleted = hourly_runs(session, 3)[1].id
    execute(session, f"DELETE FROM {job_run_table(session)} WHERE id = :id", id=deleted)

    with freeze_time(NOW + 3 * HOUR):
        response = client.get("/api/v1/health/disable-inactive-users")
    error = error_of(response, 503)
    assert error["code"] == "job_chain_broken" and f"job_run {deleted} deleted" in error["message"]


def test_the_health_endpoint_says_the_chain_holds_when_healthy(app, client, session, system_admin):
    use_keys(app)
    hourly_runs(session, 2)

    with freeze_time(NOW + 2 * HOUR):
        body = client.get("/api/v1/health/disable-inactive-users").get_json()
    assert body["healthy"] and body["evidence_chain"].endswith("2 records, signed")


def test_the_report_api_and_its_json_name_the_edited_record(app, client, session, system_admin, admin_token):

    use_keys(app)
    edited = hourly_runs(session, 3)[2].id
    hourly_runs(session, 1, start=NOW + 3 * HOUR)
    execute(session, f"UPDATE {job_run_table(session)} SET failed = 1 WHERE id = :id", id=edited)

    query = {"from": "2026-09-01", "to": "2026-09-01", "as_of": "2026-09-02T00:00:00Z", "format": "json"}
    response = client.get("/api/v1/reports/deactivations", query_string=query, headers=bearer(admin_token))
    assert response.status_code == 200, response.get_data(as_text=True)
    chain_part = response.get_json()["evidence_chain"]
    assert chain_part["status"] == "broken"
    assert chain_part["breaks"] == [{"what": "edited", "table": "job_run", "record_id": edited, "position": 3,
                                     "detail": "its content no longer matches its seal"}]


def test_the_report_command_verifies_with_the_settings_keys(app, session, system_admin):

    use_keys(app)
    hourly_runs(session, 2)
    result = invoke(app, "inactive-users-report", "--from", "2026-09-01", "--to", "2026-09-01", "--format", "json",
                    now=NOW + DAY)

    chain_part = json.loads(result.stdout)["evidence_chain"]
    assert result.exit_code == 0 and chain_part["status"] == "intact" and chain_part["records"] == 2


def test_downgrading_s0004_removes_the_chains_columns(app, session, database_url):

    session.remove()
    downgrade(revision="s0003")
    inspector = sa.inspect(factories.open_engine(database_url))

    schema = os.environ["OPS_DEACTIVATION_SCHEMA"] if database_url.startswith("postgresql") else None
    try:
        for table in ("job_run", "email_record"):
            names = {column["name"] for column in inspector.get_columns(table, schema=schema)}
            assert not names & {"chain_seq", "chain_prev", "chain_prev_record", "chain_key_id", "chain_seal", "disabled_events"}
    finally:
        upgrade()


def test_the_csv_report_has_a_row_for_the_chain_and_one_per_break(app, session, system_admin):

    use_keys(app)
    deleted = hourly_runs(session, 3)[1].id
    execute(session, f"DELETE FROM {job_run_table(session)} WHERE id = :id", id=deleted)

    rows = list(csv.DictReader(io.StringIO(report(app, session).to_csv())))
    verdict, broken = [row for row in rows if row["record"].startswith("evidence chain")]
    assert verdict["status"] == "broken" and verdict["problem"].startswith(f"chain broken at job_run {deleted} deleted")
    assert (broken["table"], broken["record_id"], broken["status"]) == ("job_run", str(deleted), "deleted")
