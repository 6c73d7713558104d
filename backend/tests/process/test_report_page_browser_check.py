"""The browser check of the evidence page is itself checked: it sees a policy violation and an attempted fetch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ops_api.services.report.deactivation_report import DeactivationEvidence
from ops_api.services.report.report_html import (
    render_evidence_page,
)

from headless_chromium import headless_chromium

T0 = datetime(2026, 7, 1, tzinfo=timezone.utc)  # a Wednesday


HOUR = timedelta(hours=1)


def run(at, outcome="completed", dry_run=False):
    return {"event_id": 1, "at": at.isoformat(), "status": "SUCCESS", "outcome": outcome, "dry_run": dry_run,
            "candidates": 0, "disabled": 0, "failed": 0, "skipped_reason": None}


def deactivation(at, *, automatic, reason="Automatically disabled", email="u@example.gov"):
    return {"event_id": 2, "user_id": 7, "email": email, "disabled_at": at.isoformat(), "automatic": automatic,
            "actor_id": 1, "actor_email": "admin@example.gov", "old_status": "ACTIVE", "reason": reason,
            "last_activity": (at - timedelta(days=61)).isoformat(), "days_inactive": 61, "warnings": [], "notices": []}


def two_days():
    """Two days of hourly runs: hours 3-5 of the first day missed, hour 8 of the second refused by the cap."""
    hours = [T0 + n * HOUR for n in range(48) if n not in (3, 4, 5)]
    runs = [run(h + timedelta(minutes=2), "refused_by_cap" if h == T0 + 32 * HOUR else "completed") for h in hours]
    runs.append(run(T0 + 10 * HOUR + timedelta(minutes=20), dry_run=True))
    return DeactivationEvidence(
        start=T0, end=T0 + 2 * timedelta(days=1), generated_at=T0 + 60 * HOUR, threshold_days=60,
        deactivations=[
            deactivation(T0 + 2 * HOUR, automatic=True),
            deactivation(T0 + 30 * HOUR, automatic=False, reason='<script>alert("x")</script>', email="a&b@example.gov"),
        ],
        runs=runs, hours=48, hours_with_a_real_run=45, first_real_run_at=T0 + timedelta(minutes=2),
        gaps=[{"from": (T0 + 3 * HOUR).isoformat(), "to": (T0 + 6 * HOUR).isoformat(), "hours": 3}],
    )


def render(evidence):
    return render_evidence_page(evidence, environment="staging", version="ops-user-deactivation 9.9.9")


def test_the_browser_check_sees_a_policy_violation_and_an_attempted_fetch(tmp_path):
    """The browser test's own instruments: a CSP violation is a console error, and a fetch, even blocked, is a request."""
    intruder = '<p style="color: red">x</p><img src="http://127.0.0.1:9/pixel.png" alt="">'
    page_file = tmp_path / "report.html"
    page_file.write_text(render(two_days()).replace("</body>", intruder + "</body>"), encoding="utf-8")

    with headless_chromium() as browser:
        page = browser.new_page()
        page.open(page_file.as_uri())
        errors, requests = page.console_errors(), page.requests()

    assert len(errors) == 2 and all("violates the following Content Security Policy" in e for e in errors), errors
    assert requests == ["http://127.0.0.1:9/pixel.png"]
