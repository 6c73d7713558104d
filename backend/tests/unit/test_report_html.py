"""The evidence page's rendering, without a database: policy, escaping, digest and chart figures."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime, timedelta, timezone

from ops_api.services.report.deactivation_report import DeactivationEvidence
from ops_api.services.report.report_html import (
    HEADER_POLICY,
    LONG_WORD,
    day_span,
    render_evidence_page,
    schedule_chart,
    weekly_chart,
)

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


def text_of(page):
    """The page's text as a reader sees it: tags (such as the <wbr> in addresses) left out, references resolved."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


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
    assert '<span class="nb">a&amp;b@</span>' in page and "a&b@example.gov" in text_of(page)


def test_the_footer_carries_the_digest_of_the_json_bytes_and_how_to_recompute_it():
    evidence = two_days()
    page = render(evidence)

    expected = hashlib.sha256(evidence.to_json().encode()).hexdigest()
    assert f'<code id="digest">{expected}</code>' in page
    assert (
        "flask inactive-users-report \\\n"
        "  --from 2026-07-01T00:00:00+00:00 \\\n"
        "  --to 2026-07-03T00:00:00+00:00 \\\n"
        "  --as-of 2026-07-03T12:00:00+00:00 \\\n"
        "  --format json | sha256sum</pre>"
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

    assert chart.columns[1].title == "2026-07-02: 6 h completed, 0 h run not completed, 0 h without a real run, 1 h in progress"


def test_the_weekly_chart_splits_automatic_and_manual_on_monday_weeks():
    chart = weekly_chart(two_days().to_dict())

    (week,) = chart.columns
    assert week.title == "2026-07-01 to 2026-07-02: 1 automatic, 1 manual"
    assert [s.series for s in week.segments] == ["automatic", "manual"]


def test_weekly_bars_are_labelled_by_the_days_of_the_period_they_cover():
    evidence = two_days()
    # Friday 4 December 2026 to Tuesday 5 January 2027: five weeks, cut at both ends.
    evidence.start, evidence.end = datetime(2026, 12, 4, tzinfo=timezone.utc), datetime(2027, 1, 6, tzinfo=timezone.utc)
    evidence.generated_at, evidence.deactivations = evidence.end, []

    chart = weekly_chart(evidence.to_dict())

    assert [c.label for c in chart.columns] == ["4-6 Dec", "7-13 Dec", "14-20 Dec", "21-27 Dec", "28 Dec-3 Jan", "4-5 Jan"]
    assert chart.columns[0].title == "2026-12-04 to 2026-12-06: 0 automatic, 0 manual"


def test_a_bar_of_one_day_is_labelled_by_that_day():
    assert day_span(datetime(2026, 12, 4).date(), datetime(2026, 12, 4).date()) == "4 Dec"


def test_hours_before_the_jobs_first_run_and_the_hour_in_progress_are_drawn_apart_from_gaps():
    evidence = two_days()
    evidence.first_real_run_at = T0 + 6 * HOUR + timedelta(minutes=2)  # hours 3 to 5 had no run: not deployed yet
    evidence.generated_at = T0 + 30 * HOUR + timedelta(minutes=20)

    first, second = schedule_chart(evidence.to_dict()).columns

    assert first.title == "2026-07-01: 18 h completed, 0 h run not completed, 0 h without a real run, 6 h before the job's first run"
    assert [s.series for s in first.segments] == ["ran", "before"] and not first.flagged
    assert second.title == "2026-07-02: 6 h completed, 0 h run not completed, 0 h without a real run, 1 h in progress"
    assert [s.series for s in second.segments] == ["ran", "now"]


def test_the_legend_names_the_hours_before_the_first_run_and_in_progress_only_when_there_are_some():
    evidence = two_days()
    shown = [css for css, _text in schedule_chart(evidence.to_dict()).series]
    evidence.first_real_run_at, evidence.generated_at = T0 + 6 * HOUR, T0 + 30 * HOUR + timedelta(minutes=20)
    both = [css for css, _text in schedule_chart(evidence.to_dict()).series]

    assert shown == ["ran", "other", "gap"]
    assert both == ["ran", "other", "gap", "before", "now"]


def test_the_page_says_when_the_job_first_ran_and_that_the_hour_in_progress_is_not_counted():
    evidence = two_days()
    evidence.first_real_run_at, evidence.hours_before_first_run = T0 + 6 * HOUR + timedelta(minutes=2), 6
    evidence.hour_in_progress = {"from": (T0 + 47 * HOUR).isoformat(), "to": (T0 + 48 * HOUR).isoformat(), "with_a_real_run": True}

    page = text_of(render(evidence))

    assert (
        "The job's first real run on record started at 2026-07-01 06:02 UTC: the 6 whole hours of the period "
        "before it count as before the job's first run, not as gaps."
    ) in page
    assert (
        "The hour in progress, 2026-07-02 23:00 to 2026-07-03 00:00 UTC, is not counted yet, neither covered "
        "nor a gap: a real run has finished in it."
    ) in page


def test_the_page_says_when_no_real_run_is_on_record():
    evidence = two_days()
    evidence.first_real_run_at, evidence.hours_before_first_run, evidence.hours_with_a_real_run = None, 48, 0
    evidence.runs, evidence.gaps = [], []

    page = text_of(render(evidence))

    assert (
        "No real run of the job is on record up to the generation time: the 48 whole hours elapsed count as "
        "before the job's first run, not as gaps."
    ) in page
    assert "No real run is on record yet, so no hour is counted as a gap." in page


def test_with_no_hour_ended_since_the_first_run_the_gaps_table_does_not_claim_every_hour_had_a_run():
    evidence = two_days()
    evidence.first_real_run_at, evidence.generated_at = T0 + 47 * HOUR, T0 + 47 * HOUR + timedelta(minutes=20)
    evidence.hours, evidence.hours_before_first_run, evidence.hours_with_a_real_run, evidence.gaps = 47, 47, 0, []

    page = text_of(render(evidence))

    assert "No whole hour of the period has ended since the job's first run." in page
    assert "A real run finished in every" not in page


def test_time_elements_carry_at_most_milliseconds_while_the_footer_keeps_the_exact_generation_time():
    evidence = two_days()
    evidence.generated_at = T0 + 60 * HOUR + timedelta(microseconds=654321)

    page = render(evidence)

    assert '<time datetime="2026-07-03T12:00:00.654+00:00">' in page
    assert re.findall(r'datetime="([^"]+)"', page) and all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?\+00:00", value)
        for value in re.findall(r'datetime="([^"]+)"', page)
    )
    assert "--as-of 2026-07-03T12:00:00.654321+00:00 " in page


def test_an_address_may_break_only_after_an_at_sign_or_a_dot():
    evidence = two_days()
    evidence.deactivations[0]["email"] = "dmitri.longgone@example.gov"

    page = render(evidence)

    assert (
        '<span class="email"><span class="nb">dmitri.</span><wbr><span class="nb">longgone@</span><wbr>'
        '<span class="nb">example.</span><wbr><span class="nb">gov</span></span>'
    ) in page


def test_only_a_word_longer_than_any_column_may_break_inside():
    evidence = two_days()
    long_word = "x" * (LONG_WORD + 1)
    evidence.deactivations[0]["reason"] = f"see re-enabled ticket {long_word} {'y' * LONG_WORD}"

    page = render(evidence)

    assert f'see <span class="nb">re-enabled</span> ticket <span class="long">{long_word}</span> {"y" * LONG_WORD}<' in page
