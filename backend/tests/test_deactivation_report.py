"""The AC-2(3) evidence report: a simulated month of hourly runs, then the report, the command and the API."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from ops_api.models import User
from ops_api.services import job_runs
from ops_api.services.deactivation_report import build_report
from ops_api.services.notifications import MailSettings, NotificationService, notify_after_run
from ops_api.services.report_html import HEADER_POLICY
from ops_api.services.user_deactivation import UserDeactivationService
from ops_api.services.users import deactivate_user

from api_support import bearer, error_of, login
from cli_runner import REPO_ROOT, invoke, run_flask
from factories import make_session, make_user
from headless_chromium import headless_chromium
from smtp_server import smtp_server

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
THRESHOLD = 60 * DAY
T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)  # the month: July 2026
MONTH = 31 * DAY
LONG_AGO = T0 - 400 * DAY
HALF = timedelta(minutes=30)
# The scheduler was down for five hours on the 14th (across u2's 7-day moment) and one hour on the 23rd.
OUTAGES = [T0 + 13 * DAY + h * HOUR for h in range(0, 5)] + [T0 + 22 * DAY + 7 * HOUR]


def idle_until(session, due, *, email):
    user = make_user(session, email=email, created_on=LONG_AGO)
    make_session(session, user, last_active_at=due - THRESHOLD, is_active=False)
    return user


@pytest.fixture
def month(session, user_admin):
    """July 2026 of hourly runs (except the outages) on a small population; returns who is who."""
    people = {
        "u1": idle_until(session, T0 + 10 * DAY + HALF, email="u1@example.gov"),
        "u2": idle_until(session, T0 + 20 * DAY + HALF, email="u2@example.gov"),
        "u3": make_user(session, email="u3@example.gov", created_on=LONG_AGO),  # disabled by hand
        "u4": idle_until(session, T0 + 18 * DAY + HALF, email="u4@example.gov"),  # logs in between the warnings
        "busy": make_user(session, email="busy@example.gov", created_on=LONG_AGO),
    }
    make_session(session, people["u3"], last_active_at=T0 - 5 * DAY)
    make_session(session, people["busy"], last_active_at=T0 - DAY)
    session.commit()
    with smtp_server() as server:
        settings = MailSettings(host="127.0.0.1", port=server.port, starttls=False, timeout_seconds=5, sender="no-reply@ops.example.gov")
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
                    deactivation = UserDeactivationService(session, max_disable=0)
                    report = deactivation.disable_inactive_users()
                    job_runs.record_run(session, report)
                    notify_after_run(NotificationService(session, settings, deactivation), report)
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
    assert u1["last_activity"] == (T0 + 10 * DAY + HALF - THRESHOLD).isoformat()
    assert u1["days_inactive"] == 60 and u1["reason"].startswith("Automatically disabled")
    assert [(w["stage"], w["sent_at"], w["status"]) for w in u1["warnings"]] == [
        (7, (T0 + 3 * DAY + HOUR).isoformat(), "SUCCESS"),
        (1, (T0 + 9 * DAY + HOUR).isoformat(), "SUCCESS"),
    ]
    assert [(n["sent_at"], n["status"]) for n in u1["notices"]] == [(u1["disabled_at"], "SUCCESS")]
    assert u3["actor_email"] == "pat.admin@example.gov" and u3["reason"] == "left the agency"
    assert u3["disabled_at"] == (T0 + 15 * DAY + 9 * HOUR + HALF).isoformat()
    assert u3["last_activity"] == (T0 - 5 * DAY).isoformat() and u3["warnings"] == [] and u3["notices"] == []
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
    }
    # u4 logged in between its warnings: a 7-day warning only, and still ACTIVE.
    to_u4 = [m.subject for m in month["mail"] if m.to == "u4@example.gov"]
    assert len(to_u4) == 1 and "19 July 2026" in to_u4[0]
    # Hours after "now" are not gaps.
    partial = build_report(session, start=T0, end=T0 + MONTH, now=T0 + 2 * DAY, threshold_days=60).to_dict()
    assert partial["summary"]["hours"] == 48 and partial["gaps"] == []

    table = list(csv.DictReader(io.StringIO(build_report(
        session, start=T0, end=T0 + MONTH, now=T0 + MONTH, threshold_days=60
    ).to_csv())))
    assert [row["record"] for row in table].count("deactivation") == 3
    assert [row["record"] for row in table].count("run") == len(runs)
    assert [row["record"] for row in table].count("gap") == 2
    first = table[0]
    assert first["user_id"] == str(month["u1"].id) and first["automatic"] == "True"
    assert "7-day" in first["warnings"] and "1-day" in first["warnings"]


def test_a_spreadsheet_formula_in_a_reason_is_quoted_in_the_csv(session, user_admin):
    user = make_user(session, email="x@example.gov")
    session.commit()
    with freeze_time(T0 + HOUR):
        deactivate_user(session, user, actor=user_admin, reason="=HYPERLINK(\"http://evil\")")
        session.commit()

    table = list(csv.DictReader(io.StringIO(build_report(session, start=T0, end=T0 + DAY, now=T0 + DAY, threshold_days=60).to_csv())))

    (row,) = [row for row in table if row["record"] == "deactivation"]
    assert row["reason"].startswith("'=")


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
    assert document["summary"]["hours"] == 72 and document["gaps"] == [
        {"from": "2026-07-01T00:00:00+00:00", "to": "2026-07-04T00:00:00+00:00", "hours": 72}
    ]
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
        session, start=T0, end=T0 + 3 * DAY, now=datetime.fromisoformat(body["generated_at"]), threshold_days=60
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
A4, LETTER = (8.27, 11.69), (8.5, 11.0)
# A4's width less the print CSS's 12 mm margins, in CSS pixels: a wider page would be cut.
A4_CONTENT_PX = int((210 - 24) / 25.4 * 96)


def test_the_html_page_of_a_month_opens_in_a_browser_offline_and_matches_the_json(month, database_url, tmp_path):
    as_of = (T0 + MONTH + 2 * HOUR).isoformat()
    period = ("--from", "2026-07-01", "--to", "2026-07-31", "--as-of", as_of)
    html = run_flask("inactive-users-report", *period, "--format", "html", database_url=database_url)
    as_json = run_flask("inactive-users-report", *period, "--format", "json", database_url=database_url)
    assert html.returncode == 0 and as_json.returncode == 0, html.stderr + as_json.stderr
    page_file = tmp_path / "report.html"
    page_file.write_text(html.stdout, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    name = f"evidence-report-{database_url.split(':')[0].split('+')[0]}"

    with headless_chromium() as browser:
        page = browser.new_page()
        page.open(page_file.as_uri())
        found = page.evaluate("""({
            charts: [...document.querySelectorAll('figure.chart')].map(f => [
                f.id, f.querySelectorAll('.plot rect:not(.flag)').length, f.querySelectorAll('.plot rect.flag').length]),
            rows: Object.fromEntries(['deactivations', 'gaps', 'problem-runs'].map(
                id => [id, document.querySelectorAll('#' + id + ' tbody tr:not(.none)').length])),
            digest: document.getElementById('digest').textContent,
            recompute: document.getElementById('recompute').textContent,
        })""")
        page.screenshot(ARTIFACTS / f"{name}.png", width=1280)
        wide = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.resize(390, 844, mobile=True)
        phone = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.screenshot(ARTIFACTS / f"{name}-phone.png", width=390)
        page.resize(A4_CONTENT_PX, 1000, media="print")
        on_paper = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        page.print_pdf(ARTIFACTS / f"{name}-a4.pdf", paper=A4)
        page.print_pdf(ARTIFACTS / f"{name}-letter.pdf", paper=LETTER)
        errors, requests = page.console_errors(), page.requests()

    assert errors == [] and requests == []
    # 31 days of bars (each a completed segment, and a gap segment and mark on the 14th and the 23rd); 5 weeks, one manual.
    assert found["charts"] == [["chart-hours", 31 + 2, 2], ["chart-weeks", 2 + 1, 0]]
    assert found["rows"] == {"deactivations": 3, "gaps": 2, "problem-runs": 0}
    assert found["digest"] == hashlib.sha256(as_json.stdout.encode("ascii")).hexdigest()
    assert found["recompute"].startswith("flask inactive-users-report --from 2026-07-01T00:00:00+00:00 --to 2026-08-01T00:00:00+00:00")
    assert wide[0] <= wide[1] and phone[0] <= phone[1] and on_paper[0] <= on_paper[1], (wide, phone, on_paper)
    for paper in ("a4", "letter"):
        assert (ARTIFACTS / f"{name}-{paper}.pdf").read_bytes().startswith(b"%PDF-")


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
    assert "gone@example.gov" in page.get_data(as_text=True)
