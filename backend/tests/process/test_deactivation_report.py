"""The AC-2(3) evidence report: a simulated month of hourly runs, then the report, the command and the API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import current_app
from freezegun import freeze_time
from openapi_schema_validator import OAS31Validator

from ops_api.api.openapi import spec
from ops_api.models import User
from ops_api.services.evidence import keys_from_config
from ops_api.services.mail.notifications import NotificationService, notify_after_run
from ops_api.services.report.deactivation_report import build_report
from ops_api.services.report.report_html import HEADER_POLICY, LONG_WORD
from ops_api.services.users.accounts import deactivate_user

from api_support import bearer, error_of, login
from cli_runner import FLASK, REPO_ROOT, flask_env, invoke, run_flask
from factories import deactivation_service, mail_settings, make_session, make_user, run_job
from headless_chromium import headless_chromium
from page_checks import axe_violations, html_checker_errors, pdf_text, printed_pieces
from smtp_server import smtp_server

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
THRESHOLD = 60 * DAY
T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)  # the month: July 2026
MONTH = 31 * DAY
LONG_AGO = T0 - 400 * DAY
HALF = timedelta(minutes=30)
# Real clocks stamp microseconds: the job's reason then holds a 33-character instant, the longest word on the page.
STAMP = timedelta(microseconds=123456)
# The scheduler was down for five hours on the 14th (across u2's 7-day moment) and one hour on the 23rd.
OUTAGES = [T0 + 13 * DAY + h * HOUR for h in range(0, 5)] + [T0 + 22 * DAY + 7 * HOUR]


def idle_until(session, due, *, email):
    user = make_user(session, email=email, created_on=LONG_AGO)
    make_session(session, user, last_active_at=due - THRESHOLD + STAMP, is_active=False)
    return user


@pytest.fixture
def month(session, user_admin):
    """July 2026 of hourly runs (except the outages) on a small population; returns who is who."""
    people = {
        # Long addresses, as people have them: on paper they may break only after "@" or ".".
        "u1": idle_until(session, T0 + 10 * DAY + HALF, email="dmitri.longgone@example.gov"),
        "u2": idle_until(session, T0 + 20 * DAY + HALF, email="alexandra.featherstonehaugh@contractor.example.gov"),
        "u3": make_user(session, email="u3@example.gov", created_on=LONG_AGO),  # disabled by hand
        "u4": idle_until(session, T0 + 18 * DAY + HALF, email="u4@example.gov"),  # logs in between the warnings
        "busy": make_user(session, email="busy@example.gov", created_on=LONG_AGO),
    }
    make_session(session, people["u3"], last_active_at=T0 - 5 * DAY)
    make_session(session, people["busy"], last_active_at=T0 - DAY)
    session.commit()
    with smtp_server() as server:
        settings = mail_settings(host="127.0.0.1", port=server.port, security="none", timeout_seconds=5, sender="no-reply@ops.example.gov")
        at = T0
        # One frozen clock moved along (starting freezegun for each run would cost more than the run).
        with freeze_time(at, real_asyncio=True) as clock:
            while at < T0 + MONTH:
                clock.move_to(at)
                if at == T0 + 15 * DAY + 9 * HOUR + HALF:  # between two runs
                    deactivate_user(session, session.get(User, people["u3"].id), actor=user_admin, reason="left the agency")
                    session.commit()
                if at == T0 + 14 * DAY + HALF:
                    make_session(session, people["u4"], last_active_at=at)
                    session.commit()
                if at not in OUTAGES and at.minute == 0:
                    report = run_job(session, max_disable=0)
                    notify_after_run(NotificationService(session, settings, deactivation_service(session)), report)
                at += HALF
        people["mail"] = server.mailbox.take()
    return people


def test_a_month_of_hourly_runs_gives_every_deactivation_with_its_warnings_and_every_gap(session, month, user_admin):
    evidence = build_report(session, start=T0, end=T0 + MONTH, now=T0 + MONTH + HOUR, threshold_days=60).to_dict()

    rows = evidence["deactivations"]
    assert [(r["user_id"], r["automatic"]) for r in rows] == [
        (month["u1"].id, True),
        (month["u3"].id, False),
        (month["u2"].id, True),
    ]
    u1, u3, u2 = rows
    assert u1["disabled_at"] == (T0 + 10 * DAY + HOUR).isoformat()
    assert u1["last_activity"] == (T0 + 10 * DAY + HALF - THRESHOLD + STAMP).isoformat()
    assert u1["days_inactive"] == 60 and u1["reason"].startswith("Automatically disabled")
    assert [(w["stage"], w["sent_at"], w["status"]) for w in u1["warnings"]] == [
        (7, (T0 + 3 * DAY + HOUR).isoformat(), "SUCCESS"),
        (1, (T0 + 9 * DAY + HOUR).isoformat(), "SUCCESS"),
    ]
    assert [(n["sent_at"], n["status"]) for n in u1["notices"]] == [(u1["disabled_at"], "SUCCESS")]
    assert u3["actor_email"] == "pat.admin@example.gov" and u3["reason"] == "left the agency"
    assert u3["disabled_at"] == (T0 + 15 * DAY + 9 * HOUR + HALF).isoformat()
    assert u3["last_activity"] == (T0 - 5 * DAY).isoformat() and u3["warnings"] == []
    # Disabled by hand between two runs: the next run told the user, once.
    assert [(n["sent_at"], n["status"], n["recipient"]) for n in u3["notices"]] == [
        ((T0 + 15 * DAY + 10 * HOUR).isoformat(), "SUCCESS", "u3@example.gov")
    ]
    told_u3 = [m.subject for m in month["mail"] if m.to == "u3@example.gov"]
    assert told_u3 == ["OPS: your account was disabled by an administrator"]
    # u2's 7-day moment fell in the outage: the run after it warned, once.
    assert [(w["stage"], w["sent_at"]) for w in u2["warnings"]] == [
        (7, (T0 + 13 * DAY + 5 * HOUR).isoformat()),
        (1, (T0 + 19 * DAY + HOUR).isoformat()),
    ]

    runs = evidence["runs"]
    assert len(runs) == 31 * 24 - len(OUTAGES)
    assert all(run["outcome"] == "completed" and run["status"] == "SUCCESS" and not run["dry_run"] for run in runs)
    assert sum(run["disabled"] for run in runs) == 2
    assert evidence["gaps"] == [
        {"from": (T0 + 13 * DAY).isoformat(), "to": (T0 + 13 * DAY + 5 * HOUR).isoformat(), "hours": 5},
        {"from": (T0 + 22 * DAY + 7 * HOUR).isoformat(), "to": (T0 + 22 * DAY + 8 * HOUR).isoformat(), "hours": 1},
    ]
    assert evidence["summary"] == {
        "deactivations": 3,
        "automatic": 2,
        "manual": 1,
        "real_runs_by_outcome": {"completed": 31 * 24 - 6},
        "dry_runs": 0,
        "hours": 31 * 24,
        "hours_with_a_real_run": 31 * 24 - 6,
        "hours_without_a_real_run": 6,
        "hours_before_first_run": 0,
        "first_real_run_at": T0.isoformat(),
        "hour_in_progress": None,
        "unreadable_records": 0,
    }
    # u4 logged in between its warnings: a 7-day warning only, and still ACTIVE.
    to_u4 = [m.subject for m in month["mail"] if m.to == "u4@example.gov"]
    assert len(to_u4) == 1 and "19 July 2026" in to_u4[0]
    # Hours after "now" are not gaps, and the hour that "now" falls in is shown apart.
    partial = build_report(session, start=T0, end=T0 + MONTH, now=T0 + 2 * DAY + HALF, threshold_days=60).to_dict()
    assert partial["summary"]["hours"] == 48 and partial["gaps"] == []
    assert partial["summary"]["hour_in_progress"] == {
        "from": (T0 + 2 * DAY).isoformat(), "to": (T0 + 2 * DAY + HOUR).isoformat(), "with_a_real_run": True,
    }

    table = list(csv.DictReader(io.StringIO(build_report(
        session, start=T0, end=T0 + MONTH, now=T0 + MONTH, threshold_days=60
    ).to_csv())))
    assert [row["record"] for row in table].count("deactivation") == 3
    assert [row["record"] for row in table].count("run") == len(runs)
    assert [row["record"] for row in table].count("gap") == 2
    first, by_hand = table[0], table[1]
    assert first["user_id"] == str(month["u1"].id) and first["automatic"] == "True"
    assert "7-day" in first["warnings"] and "1-day" in first["warnings"]
    assert by_hand["automatic"] == "False"
    assert by_hand["notices"] == f"{(T0 + 15 * DAY + 10 * HOUR).isoformat()} SUCCESS to u3@example.gov"


@pytest.fixture
def two_days(session, user_admin):
    """Two days of hourly runs, one hour missed and one run dry, in which a user is warned twice, then disabled and
    told: every part of the report, in a fraction of the month's time."""
    idle_until(session, T0 + DAY + HALF, email="due@example.gov")
    session.commit()
    with smtp_server() as server:
        settings = mail_settings(host="127.0.0.1", port=server.port, security="none", timeout_seconds=5, sender="no-reply@ops.example.gov")
        with freeze_time(T0, real_asyncio=True) as clock:
            for hour in range(48):
                if hour == 5:  # the scheduler missed this hour
                    continue
                clock.move_to(T0 + hour * HOUR)
                report = run_job(session, max_disable=0, dry_run=hour == 6)
                notify_after_run(NotificationService(session, settings, deactivation_service(session)), report)
        server.mailbox.take()


def test_the_reports_json_fits_the_schema_the_api_documents_for_it(session, two_days):
    evidence = build_report(session, start=T0, end=T0 + 2 * DAY, now=T0 + 2 * DAY, threshold_days=60)
    document = json.loads(evidence.to_json())
    components = spec()["components"]
    validator = OAS31Validator(
        {"$ref": "#/components/schemas/DeactivationEvidence", "components": components},
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )

    (deactivation,) = document["deactivations"]
    assert len(deactivation["warnings"]) == 2 and len(deactivation["notices"]) == 1
    assert document["summary"]["dry_runs"] == 1 and document["gaps"]
    assert [error.message for error in validator.iter_errors(document)] == []
    # Both ways: the schema documents no field the report does not always write.
    for name in ("DeactivationEvidence", "EvidenceSummary", "Deactivation", "Warning", "Notice", "Run", "Gap"):
        assert set(components["schemas"][name]["required"]) == set(components["schemas"][name]["properties"]), name


def test_a_spreadsheet_formula_in_a_reason_is_quoted_in_the_csv(session, user_admin):
    user = make_user(session, email="x@example.gov")
    session.commit()
    with freeze_time(T0 + HOUR):
        deactivate_user(session, user, actor=user_admin, reason="=HYPERLINK(\"http://evil\")")
        session.commit()

    table = list(csv.DictReader(io.StringIO(build_report(session, start=T0, end=T0 + DAY, now=T0 + DAY, threshold_days=60).to_csv())))

    (row,) = [row for row in table if row["record"] == "deactivation"]
    assert row["reason"].startswith("'=")


# -- the schedule: before the job's first run, and the hour in progress ------------


def finished_run(session, at, *, dry_run=False):
    """A run of the job at ``at`` (nobody due), recorded as the job records it."""
    run_job(session, dry_run=dry_run, clock=lambda: at)


def schedule_of(session, *, now):
    """The first day of July as the report sees it at ``now``: its summary's hour counts and its gaps."""
    document = build_report(session, start=T0, end=T0 + DAY, now=now, threshold_days=60).to_dict()
    summary = document["summary"]
    counts = {key: summary[key] for key in ("hours", "hours_before_first_run", "hours_with_a_real_run", "hours_without_a_real_run")}
    return summary, counts, [(gap["from"], gap["hours"]) for gap in document["gaps"]]


def test_hours_before_the_jobs_first_real_run_are_not_gaps(session, system_admin):
    finished_run(session, T0 + HOUR, dry_run=True)  # a preview is not the job running
    finished_run(session, T0 + 5 * HOUR + HALF)

    summary, counts, gaps = schedule_of(session, now=T0 + 9 * HOUR)

    assert summary["first_real_run_at"] == (T0 + 5 * HOUR + HALF).isoformat()
    assert counts == {"hours": 9, "hours_before_first_run": 5, "hours_with_a_real_run": 1, "hours_without_a_real_run": 3}
    assert gaps == [((T0 + 6 * HOUR).isoformat(), 3)]


def test_the_first_real_run_is_the_first_on_record_not_the_first_in_the_period(session, system_admin):
    finished_run(session, T0 - 7 * DAY)
    finished_run(session, T0 + 5 * HOUR)

    summary, counts, gaps = schedule_of(session, now=T0 + 9 * HOUR)

    assert summary["first_real_run_at"] == (T0 - 7 * DAY).isoformat()
    assert counts == {"hours": 9, "hours_before_first_run": 0, "hours_with_a_real_run": 1, "hours_without_a_real_run": 8}
    assert gaps == [(T0.isoformat(), 5), ((T0 + 6 * HOUR).isoformat(), 3)]


def test_a_report_as_of_a_moment_before_the_first_run_counts_its_hours_as_before_it(session, system_admin):
    finished_run(session, T0 + 5 * HOUR)

    summary, counts, gaps = schedule_of(session, now=T0 + 3 * HOUR)

    assert summary["first_real_run_at"] is None
    assert counts == {"hours": 3, "hours_before_first_run": 3, "hours_with_a_real_run": 0, "hours_without_a_real_run": 0}
    assert gaps == []


def test_a_first_run_minutes_ago_leaves_no_gap_and_its_hour_is_shown_apart(session, system_admin):
    """A job deployed today whose first run finished in the current hour: nothing is covered yet, nothing is missed."""
    finished_run(session, T0 + 14 * HOUR + timedelta(minutes=10))

    summary, counts, gaps = schedule_of(session, now=T0 + 14 * HOUR + timedelta(minutes=25))

    assert counts == {"hours": 14, "hours_before_first_run": 14, "hours_with_a_real_run": 0, "hours_without_a_real_run": 0}
    assert gaps == [] and summary["real_runs_by_outcome"] == {"completed": 1}
    assert summary["hour_in_progress"] == {
        "from": (T0 + 14 * HOUR).isoformat(), "to": (T0 + 15 * HOUR).isoformat(), "with_a_real_run": True,
    }


def test_the_hour_in_progress_without_a_run_yet_is_no_gap(session, system_admin):
    finished_run(session, T0 + 12 * HOUR)
    finished_run(session, T0 + 13 * HOUR)

    summary, counts, gaps = schedule_of(session, now=T0 + 14 * HOUR + timedelta(minutes=50))

    assert counts == {"hours": 14, "hours_before_first_run": 12, "hours_with_a_real_run": 2, "hours_without_a_real_run": 0}
    assert gaps == [] and summary["hour_in_progress"]["with_a_real_run"] is False


def test_each_deactivation_by_an_administrator_shows_the_notice_of_its_own_and_no_other(session, user_admin):
    """Disabled, told, made ACTIVE again and disabled again within the week: two rows, one notice each."""
    from ops_api.services.users.accounts import reactivate_user

    user = make_user(session, email="twice@example.gov", created_on=T0 - 30 * DAY)
    session.commit()
    with smtp_server() as server:
        settings = mail_settings(host="127.0.0.1", port=server.port, security="none", timeout_seconds=5, sender="no-reply@ops.example.gov")
        with freeze_time(T0, real_asyncio=True) as clock:
            for at, step in [
                (T0 + HALF, "disable"), (T0 + HOUR, "run"), (T0 + 2 * DAY, "reactivate"),
                (T0 + 2 * DAY + HALF, "disable"), (T0 + 2 * DAY + HOUR, "run"),
            ]:
                clock.move_to(at)
                if step == "run":
                    report = run_job(session, max_disable=0)
                    notify_after_run(NotificationService(session, settings, deactivation_service(session)), report)
                    continue
                change = deactivate_user if step == "disable" else reactivate_user
                change(session, session.get(User, user.id), actor=user_admin, reason="by hand")
                session.commit()
        assert len(server.mailbox.take()) == 2

    evidence = build_report(session, start=T0, end=T0 + 3 * DAY, now=T0 + 3 * DAY, threshold_days=60).to_dict()

    assert [(d["disabled_at"], [n["sent_at"] for n in d["notices"]]) for d in evidence["deactivations"]] == [
        ((T0 + HALF).isoformat(), [(T0 + HOUR).isoformat()]),
        ((T0 + 2 * DAY + HALF).isoformat(), [(T0 + 2 * DAY + HOUR).isoformat()]),
    ]


# -- the command and the API ------------------------------------------------------


@pytest.fixture
def one_deactivation(session, user_admin):
    user = make_user(session, email="gone@example.gov", created_on=T0 - 100 * DAY)
    session.commit()
    with freeze_time(T0 + 2 * DAY + 3 * HOUR):
        deactivate_user(session, user, actor=user_admin, reason="left the agency")
        session.commit()
    return user


def test_a_report_as_of_an_earlier_instant_leaves_out_what_came_later_and_repeats_byte_for_byte(session, one_deactivation):
    before = build_report(session, start=T0, end=T0 + 3 * DAY, now=T0 + 2 * DAY, threshold_days=60)
    after = build_report(session, start=T0, end=T0 + 3 * DAY, now=T0 + 3 * DAY, threshold_days=60)

    assert before.deactivations == [] and before.hours == 48
    assert [d["email"] for d in after.deactivations] == ["gone@example.gov"]
    again = build_report(session, start=T0, end=T0 + 3 * DAY, now=T0 + 2 * DAY, threshold_days=60)
    assert again.to_json() == before.to_json() and again.sha256() == before.sha256()


def report_command(app, *arguments):
    """The report command, run a month after the start of July."""
    return invoke(app, "inactive-users-report", *arguments, now=T0 + 30 * DAY)


def test_the_report_command_writes_csv_and_json(app, one_deactivation):
    as_csv = report_command(app, "--from", "2026-07-01", "--to", "2026-07-03")
    as_json = report_command(app, "--from", "2026-07-01", "--to", "2026-07-03", "--format", "json")

    assert as_csv.exit_code == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(row["record"], row["email"], row["reason"]) for row in table if row["record"] == "deactivation"] == [
        ("deactivation", "gone@example.gov", "left the agency")
    ]
    assert as_json.exit_code == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["from"] == "2026-07-01T00:00:00+00:00" and document["to"] == "2026-07-04T00:00:00+00:00"
    # The job never ran here: its 72 hours are not gaps but before its first run.
    assert document["summary"]["hours"] == document["summary"]["hours_before_first_run"] == 72
    assert document["summary"]["first_real_run_at"] is None and document["gaps"] == []
    assert [d["email"] for d in document["deactivations"]] == ["gone@example.gov"]


@pytest.mark.parametrize(
    "arguments",
    [
        ("--from", "yesterday", "--to", "2026-07-03"),
        ("--from", "2026-07-03", "--to", "2026-07-01"),
        ("--from", "2026-01-01", "--to", "2027-06-01"),
        ("--to", "2026-07-03"),
        ("--from", "2026-07-01", "--to", "2026-07-03", "--format", "xml"),
        ("--from", "2026-07-01", "--to", "2026-07-03", "--as-of", "2999-01-01"),
    ],
)
def test_report_usage_errors_are_one_line_and_exit_2(app, arguments):
    result = report_command(app, *arguments)

    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_the_api_gives_the_same_report_to_user_admins(client, admin_token, one_deactivation, session):
    response = client.get("/api/v1/reports/deactivations?from=2026-07-01&to=2026-07-03", headers=bearer(admin_token))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    expected = build_report(
        session, start=T0, end=T0 + 3 * DAY, now=datetime.fromisoformat(body["generated_at"]), threshold_days=60,
        keys=keys_from_config(current_app.config),
    ).to_dict()
    assert body == json.loads(json.dumps(expected))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-07-01", "to"),
        ("from=soon&to=2026-07-03", "from"),
        ("from=2026-07-03&to=2026-07-01", "to"),
        ("from=2026-07-01&to=2026-07-03&user=1", "user"),
        ("from=2026-07-01&to=2026-07-03&format=pdf", "format"),
        ("from=2026-07-01&to=2026-07-03&as_of=2999-01-01", "as_of"),
        ("from=2026-07-01&to=2026-07-03&as_of=later", "as_of"),
    ],
)
def test_the_api_answers_400_in_the_one_error_shape_for_bad_dates(client, admin_token, query, field):
    error = error_of(client.get(f"/api/v1/reports/deactivations?{query}", headers=bearer(admin_token)), 400)

    assert error["code"] == "validation_error" and field in error["fields"]


def test_the_report_is_for_user_admins_only(app, client, session):
    app.config["FAKEAUTH_ENABLED"] = True
    someone = make_user(session, email="someone@example.gov")
    session.commit()
    token = login(client, someone)["access_token"]

    error = error_of(client.get("/api/v1/reports/deactivations?from=2026-07-01&to=2026-07-03", headers=bearer(token)), 403)
    assert error["code"] == "forbidden"
    error_of(client.get("/api/v1/reports/deactivations?from=2026-07-01&to=2026-07-03"), 401)


# -- the HTML evidence page ---------------------------------------------------------

ARTIFACTS = REPO_ROOT / "artifacts"
PAPERS = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
# A4's width less the print CSS's 12 mm margins, in CSS pixels: a wider page would be cut.
A4_CONTENT_PX = int((210 - 24) / 25.4 * 96)


@dataclass(frozen=True)
class MonthPage:
    """The month's evidence page as `flask inactive-users-report` wrote it, as Chromium showed it, and as it printed it."""

    html_file: Path
    json_bytes: bytes
    shown: dict[str, Any]  # what the page shows, read in the browser
    widths: dict[str, list[int]]  # [scroll width, window width] at 1280 and 800 px, on a phone, at A4's width
    errors: list[str]
    requests: list[str]
    axe: dict[str, list[dict[str, Any]]]  # axe-core's violations at 1280 px and on a phone
    cell_words: list[str]  # every word in the tables, as laid out for print
    pdfs: dict[str, Path]


_month_pages: dict[str, MonthPage] = {}


@pytest.fixture
def month_page(request, database_url, tmp_path_factory) -> MonthPage:
    """The page of the simulated month, made once per kind of database in a test process (the month takes seconds
    to simulate); the tests only read it. Its screenshots and PDFs go to ``artifacts/``."""
    kind = database_url.split(":")[0].split("+")[0]
    if kind not in _month_pages:
        request.getfixturevalue("month")
        _month_pages[kind] = _make_month_page(database_url, tmp_path_factory.mktemp(f"month-page-{kind}"), kind)
    return _month_pages[kind]


def _make_month_page(database_url: str, folder: Path, kind: str) -> MonthPage:
    period = ("--from", "2026-07-01", "--to", "2026-07-31", "--as-of", (T0 + MONTH + 2 * HOUR).isoformat())
    html = run_flask("inactive-users-report", *period, "--format", "html", database_url=database_url)
    as_json = run_flask("inactive-users-report", *period, "--format", "json", database_url=database_url)
    assert html.returncode == 0 and as_json.returncode == 0, html.stderr + as_json.stderr
    html_file = folder / "report.html"
    html_file.write_text(html.stdout, encoding="utf-8")
    name = f"evidence-report-{kind}"
    pdfs = {paper: folder / f"{name}-{paper}.pdf" for paper in PAPERS}
    widths = {}
    with headless_chromium() as browser:
        page = browser.new_page()
        page.open(html_file.as_uri())
        shown = page.evaluate("""({
            charts: [...document.querySelectorAll('figure.chart')].map(f => [
                f.id, f.querySelectorAll('.plot rect:not(.flag)').length, f.querySelectorAll('.plot rect.flag').length]),
            week_labels: [...document.querySelectorAll('#chart-weeks .plot text.tick[text-anchor=middle]')].map(t => t.textContent),
            rows: Object.fromEntries(['deactivations', 'gaps', 'problem-runs'].map(
                id => [id, document.querySelectorAll('#' + id + ' tbody tr:not(.none)').length])),
            digest: document.getElementById('digest').textContent,
            recompute: document.getElementById('recompute').textContent,
        })""")
        page.screenshot(folder / f"{name}.png", width=1280)
        widths["1280"] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.resize(800, 1000)
        widths["800"] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.resize(390, 844, mobile=True)
        widths["phone"] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.screenshot(folder / f"{name}-phone.png", width=390)
        page.resize(A4_CONTENT_PX, 1000, media="print")
        widths["a4"] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        cell_words = page.evaluate(
            "[...document.querySelectorAll('main table td, main table th')].flatMap(c => c.innerText.split(/\\s+/)).filter(w => w)"
        )
        for paper, size in PAPERS.items():
            page.print_pdf(pdfs[paper], paper=size)
        errors, requests = page.console_errors(), page.requests()
        # axe-core last: it adds a script of its own to the page.
        page.resize(1280, 800)
        axe = {"1280": axe_violations(page)}
        page.resize(390, 844, mobile=True)
        axe["phone"] = axe_violations(page)
    _keep(folder, [f"{name}.png", f"{name}-phone.png", *(pdf.name for pdf in pdfs.values())])
    return MonthPage(html_file, as_json.stdout.encode("ascii"), shown, widths, errors, requests, axe, cell_words, pdfs)


def _keep(folder: Path, names: list[str]) -> None:
    """Copy the screenshots and PDFs to ``artifacts/`` for CI to keep; each file whole, even if another test
    process writes the same one at the same time."""
    ARTIFACTS.mkdir(exist_ok=True)
    for name in names:
        partial = ARTIFACTS / f".{name}.{os.getpid()}"
        shutil.copyfile(folder / name, partial)
        os.replace(partial, ARTIFACTS / name)


def test_the_html_page_of_a_month_opens_in_a_browser_offline_and_matches_the_json(month_page):
    shown = month_page.shown

    assert month_page.errors == [] and month_page.requests == []
    # 31 days of bars (each a completed segment, and a gap segment and mark on the 14th and the 23rd); 5 weeks, one manual.
    assert shown["charts"] == [["chart-hours", 31 + 2, 2], ["chart-weeks", 2 + 1, 0]]
    assert shown["rows"] == {"deactivations": 3, "gaps": 2, "problem-runs": 0}
    assert shown["digest"] == hashlib.sha256(month_page.json_bytes).hexdigest()
    assert shown["recompute"].startswith(
        "flask inactive-users-report \\\n  --from 2026-07-01T00:00:00+00:00 \\\n  --to 2026-08-01T00:00:00+00:00 \\\n"
    )
    assert all(scroll <= window for scroll, window in month_page.widths.values()), month_page.widths
    for pdf in month_page.pdfs.values():
        assert pdf.read_bytes().startswith(b"%PDF-")


def test_the_weekly_bars_of_a_month_are_labelled_by_their_days_in_the_period(month_page):
    # July 2026 begins on a Wednesday and ends on a Friday.
    assert month_page.shown["week_labels"] == ["1-5 Jul", "6-12 Jul", "13-19 Jul", "20-26 Jul", "27-31 Jul"]


def test_the_nu_html_checker_finds_no_error_in_the_page_of_a_month(month_page):
    assert html_checker_errors(month_page.html_file) == []


def test_axe_finds_no_accessibility_violation_in_the_page_of_a_month_wide_or_on_a_phone(month_page):
    assert month_page.axe == {"1280": [], "phone": []}


@pytest.mark.parametrize("paper", PAPERS)
def test_printed_addresses_break_only_after_an_at_sign_or_a_dot(month_page, paper):
    text = pdf_text(month_page.pdfs[paper], layout=True)
    document = json.loads(month_page.json_bytes)
    addresses = {d["email"] for d in document["deactivations"]} | {
        d["actor_email"] for d in document["deactivations"] if not d["automatic"]
    }

    printed = {address: printed_pieces(text, address) for address in sorted(addresses)}

    assert all(printed.values()), f"not printed whole or in pieces ending at @ or .: {printed}"
    for address, places in printed.items():
        for pieces in places:
            assert all(piece[-1] in "@." for piece in pieces[:-1]), (address, pieces)


@pytest.mark.parametrize("paper", PAPERS)
def test_printed_tables_keep_every_word_on_one_line(month_page, paper):
    """No column is narrower than its longest word: each word of the tables is printed whole on some line."""
    lines = pdf_text(month_page.pdfs[paper], layout=True).splitlines()
    words = {w for w in month_page.cell_words if "@" not in w and len(w) <= LONG_WORD}

    broken = sorted(word for word in words if not any(word in line for line in lines))

    # The longest word: the instant in the job's reason, 33 characters with its microseconds.
    assert f"{(T0 + 10 * DAY + HALF - THRESHOLD + STAMP).isoformat()};" in words
    assert broken == []


def test_the_footer_command_copied_from_the_printed_page_runs_as_printed_and_gives_its_digest(
    one_deactivation, database_url, tmp_path
):
    page_file = tmp_path / "report.html"
    html = run_flask("inactive-users-report", "--from", "2026-07-01", "--to", "2026-07-03", "--format", "html", database_url=database_url)
    assert html.returncode == 0, html.stderr
    page_file.write_text(html.stdout, encoding="utf-8")
    with headless_chromium() as browser:
        page = browser.new_page()
        page.open(page_file.as_uri())
        page.print_pdf(tmp_path / "report.pdf", paper=PAPERS["a4"])
    # pdftotext ends each page with a form feed; a person copying the command copies no page break.
    text = pdf_text(tmp_path / "report.pdf").replace("\f", "\n")
    (digest,) = re.findall(r"\b[0-9a-f]{64}\b", text)
    command = re.search(r"^flask inactive-users-report .*?sha256sum$", text, flags=re.M | re.S).group()
    assert "\n" in command and re.search(r"--as-of \S+\.\d{6}\+00:00", command)  # several lines; a generation time in microseconds

    env = flask_env(database_url, PATH=os.pathsep.join([str(Path(FLASK).parent), os.environ["PATH"]]))
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [digest, "-"]


def test_the_api_serves_the_page_with_a_strict_policy_and_the_digest_of_its_own_json(client, admin_token, one_deactivation):
    query = "/api/v1/reports/deactivations?from=2026-07-01&to=2026-07-03&as_of=2026-07-05T00:00:00Z"
    page = client.get(query + "&format=html", headers=bearer(admin_token))
    as_json = client.get(query, headers=bearer(admin_token))

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == HEADER_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
    assert as_json.get_json()["generated_at"] == "2026-07-05T00:00:00+00:00"
    digest = hashlib.sha256(as_json.get_data()).hexdigest()
    assert f'<code id="digest">{digest}</code>' in page.get_data(as_text=True)
    assert "gone@example.gov" in re.sub(r"<[^>]+>", "", page.get_data(as_text=True))
