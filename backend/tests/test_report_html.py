"""The evidence page's rendering, without a database: policy, escaping, digest and chart figures."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone

from ops_api.services.deactivation_report import DeactivationEvidence
from ops_api.services.report_html import HEADER_POLICY, render_evidence_page, schedule_chart, weekly_chart

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
        runs=runs, hours=48, hours_with_a_real_run=45,
        gaps=[{"from": (T0 + 3 * HOUR).isoformat(), "to": (T0 + 6 * HOUR).isoformat(), "hours": 3}],
    )


def render(evidence):
    return render_evidence_page(evidence, environment="staging", version="ops-user-deactivation 9.9.9")


def test_the_one_style_element_is_allowed_by_its_hash_and_nothing_else_may_load():
    page = render(two_days())

    (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    (meta,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    meta = meta.replace("&#39;", "'")
    assert meta == f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    assert HEADER_POLICY == meta + "; frame-ancestors 'none'"
    assert "<script" not in page.lower() and " style=" not in page
    assert not re.search(r"\b(src|href)=|url\(|@import|@font-face", page)


def test_text_from_the_database_is_escaped():
    page = render(two_days())

    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "a&amp;b@example.gov" in page


def test_the_footer_carries_the_digest_of_the_json_bytes_and_how_to_recompute_it():
    evidence = two_days()
    page = render(evidence)

    expected = hashlib.sha256(evidence.to_json().encode()).hexdigest()
    assert f'<code id="digest">{expected}</code>' in page
    assert (
        "flask inactive-users-report --from 2026-07-01T00:00:00+00:00 --to 2026-07-03T00:00:00+00:00 "
        "--as-of 2026-07-03T12:00:00+00:00 --format json | sha256sum"
    ) in page
    assert "staging" in page and "ops-user-deactivation 9.9.9" in page


def test_the_schedule_chart_counts_completed_other_and_missing_hours_per_day():
    chart = schedule_chart(two_days().to_dict())

    assert [c.title for c in chart.columns] == [
        "2026-07-01: 21 h completed, 0 h run not completed, 3 h without a real run",
        "2026-07-02: 23 h completed, 1 h run not completed, 0 h without a real run",
    ]
    first, second = chart.columns
    assert [s.series for s in first.segments] == ["ran", "gap"]
    assert (first.flagged, second.flagged) == (True, False)
    assert sum(s.height for s in second.segments) == chart.baseline - chart.ticks[-1][0]  # a full day: 24 h


def test_hours_not_yet_elapsed_are_not_drawn():
    evidence = two_days()
    evidence.generated_at = T0 + 30 * HOUR

    chart = schedule_chart(evidence.to_dict())

    assert chart.columns[1].title.startswith("2026-07-02: 6 h completed, 0 h run not completed, 0 h")


def test_the_weekly_chart_splits_automatic_and_manual_on_monday_weeks():
    chart = weekly_chart(two_days().to_dict())

    (week,) = chart.columns
    assert week.title == "week of 2026-06-29: 1 automatic, 1 manual"
    assert [s.series for s in week.segments] == ["automatic", "manual"]


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
