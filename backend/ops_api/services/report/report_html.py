"""The AC-2(3) evidence report as one self-contained HTML page, for an assessor to open, print and keep.

Pure functions over the report's own data (``DeactivationEvidence``): no
database, no Flask globals. The page is built from ``evidence.to_dict()``, the
same document ``--format json`` prints, and its footer carries the SHA-256 of
those JSON bytes. Everything is inline: one ``<style>`` element (allowed by its
hash in the Content-Security-Policy), two charts drawn here as SVG, no scripts,
no fonts, images or links to fetch.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from ops_api.services.report.deactivation_report import (
    DeactivationEvidence,
    before_first_run,
    counted_hours,
    hour_in_progress,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "report"
STYLE = (TEMPLATES / "evidence.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
# Nothing may load or run; the one <style> element is allowed by its hash.
_POLICY = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'"
# In the page itself (a file opened offline keeps it too), and as the header when served;
# frame-ancestors works only as a header.
META_POLICY = _POLICY
HEADER_POLICY = f"{_POLICY}; frame-ancestors 'none'"
PROBLEM_OUTCOMES = ("failed", "refused_by_cap", "did_not_finish")
DISTRIBUTION = "ops-user-deactivation"

_jinja = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def project_version() -> str:
    try:
        return f"{DISTRIBUTION} {metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        return f"{DISTRIBUTION} (version unknown)"


# -- charts: geometry here, markup in the template ---------------------------------

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 34
MAX_BAR = 48


@dataclass(frozen=True)
class Segment:
    series: str
    y: float
    height: float


@dataclass(frozen=True)
class Column:
    x: float
    width: float
    title: str
    label: str
    segments: tuple[Segment, ...]
    flagged: bool = False  # marked under the axis, so that even one hour in a year shows


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    series: tuple[tuple[str, str], ...]  # (css class, legend text), bottom to top
    columns: tuple[Column, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM


def stacked_bars(
    chart_id: str,
    title: str,
    description: str,
    series: tuple[tuple[str, str], ...],
    rows: list[tuple[str, str, dict[str, int]]],
    *,
    y_max: int,
    tick_step: int,
    flag: str | None = None,
    max_labels: int = 16,
) -> Chart:
    """One stacked bar per row ``(label, title, {series: value})``; at most ``max_labels`` labels, evenly spaced.

    A row with a value of the ``flag`` series also gets a mark under the axis.
    """
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - RIGHT - LEFT) / max(len(rows), 1)
    width = min(max(slot * 0.8, 1.0), MAX_BAR) if slot > 2 else slot
    label_every = max(1, -(-len(rows) // max_labels))
    scale = plot_height / max(y_max, 1)
    columns = []
    for index, (label, bar_title, values) in enumerate(rows):
        segments, top = [], float(HEIGHT - BOTTOM)
        for css, _legend in series:
            height = values.get(css, 0) * scale
            if height:
                top -= height
                segments.append(Segment(css, round(top, 2), round(height, 2)))
        columns.append(
            Column(
                x=round(LEFT + index * slot + (slot - width) / 2, 2),
                width=round(width, 2),
                title=bar_title,
                label=label if index % label_every == 0 else "",
                segments=tuple(segments),
                flagged=bool(flag and values.get(flag)),
            )
        )
    ticks = tuple((round(HEIGHT - BOTTOM - value * scale, 2), value) for value in range(0, y_max + 1, tick_step))
    return Chart(chart_id, title, description, series, tuple(columns), ticks)


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


SCHEDULE_SERIES = (
    ("ran", "completed real run"),
    ("other", "real run, not completed"),
    ("gap", "no real run (gap)"),
    ("before", "before the job's first run"),
    ("now", "hour in progress"),
)
# Drawn, and named in the legend, only on a page that has such hours.
_OPTIONAL_SERIES = ("before", "now")


def schedule_chart(document: dict[str, Any]) -> Chart:
    """Per day: hours with a completed real run, with only a run that did not complete, with none (gaps),
    before the job's first run, and the hour in progress."""
    start, end = datetime.fromisoformat(document["from"]), datetime.fromisoformat(document["to"])
    generated = datetime.fromisoformat(document["generated_at"])
    first_run = document["summary"]["first_real_run_at"]
    first_real_run_at = datetime.fromisoformat(first_run) if first_run else None
    outcome_of_hour: dict[datetime, str] = {}
    for run in document["runs"]:
        if run["dry_run"]:
            continue
        hour = datetime.fromisoformat(run["at"]).replace(minute=0, second=0, microsecond=0)
        if outcome_of_hour.get(hour) != "completed":
            outcome_of_hour[hour] = run["outcome"] or "unknown"
    per_day: dict[date, dict[str, int]] = {day: {} for day in _days(start, end)}
    for hour in counted_hours(start, end, generated):
        outcome = outcome_of_hour.get(hour)
        if before_first_run(hour, first_real_run_at):
            key = "before"
        else:
            key = "ran" if outcome == "completed" else "gap" if outcome is None else "other"
        per_day[hour.date()][key] = per_day[hour.date()].get(key, 0) + 1
    current = hour_in_progress(start, end, generated)
    if current is not None:
        per_day[current.date()]["now"] = 1
    rows = [
        (
            f"{day.day} {day:%b}",
            f"{day.isoformat()}: {v.get('ran', 0)} h completed, {v.get('other', 0)} h run not completed, "
            f"{v.get('gap', 0)} h without a real run"
            + (f", {v['before']} h before the job's first run" if v.get("before") else "")
            + (", 1 h in progress" if v.get("now") else ""),
            v,
        )
        for day, v in per_day.items()
    ]
    present = {key for _label, _title, v in rows for key in v}
    return stacked_bars(
        "chart-hours",
        "Hours per day with a completed real run",
        "For each day of the period (UTC), stacked: hours in which a real run completed, hours whose only "
        "real run failed, was refused or did not finish, and hours in which no real run finished (gaps); a mark under the "
        "axis flags every day with a gap. Hours before the job's first real run on record, and the hour in progress, "
        "are neither covered nor gaps.",
        tuple(s for s in SCHEDULE_SERIES if s[0] not in _OPTIONAL_SERIES or s[0] in present),
        rows,
        y_max=24,
        tick_step=6,
        flag="gap",
    )


def day_span(first: date, last: date) -> str:
    """``4 Dec``, ``4-6 Dec`` or ``28 Dec-3 Jan``: the days a bar covers."""
    if first == last:
        return f"{first.day} {first:%b}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}-{last.day} {last:%b}"
    return f"{first.day} {first:%b}-{last.day} {last:%b}"


def weekly_chart(document: dict[str, Any]) -> Chart:
    """Deactivations per week (weeks start on Monday, UTC), automatic and manual, each bar labelled by its days in the period."""
    start, end = datetime.fromisoformat(document["from"]), datetime.fromisoformat(document["to"])
    days = _days(start, end)
    first_monday = days[0] - timedelta(days=days[0].weekday())
    weeks: dict[date, dict[str, int]] = {}
    monday = first_monday
    while monday <= days[-1]:
        weeks[monday] = {}
        monday += timedelta(days=7)
    for row in document["deactivations"]:
        day = datetime.fromisoformat(row["disabled_at"]).date()
        week = weeks[day - timedelta(days=day.weekday())]
        key = "automatic" if row["automatic"] else "manual"
        week[key] = week.get(key, 0) + 1
    peak = max((sum(v.values()) for v in weeks.values()), default=0)
    step = max(1, -(-peak // 4))
    rows = []
    for monday, v in weeks.items():
        # The days of this week that lie in the period: the first and last weeks may be cut.
        first, last = max(monday, days[0]), min(monday + timedelta(days=6), days[-1])
        span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        rows.append(
            (day_span(first, last), f"{span}: {v.get('automatic', 0)} automatic, {v.get('manual', 0)} manual", v)
        )
    return stacked_bars(
        "chart-weeks",
        "Deactivations per week",
        "For each week (Monday to Sunday, UTC) that overlaps the period, labelled by its days in the period, "
        "stacked: accounts disabled by the job and accounts disabled by a user administrator.",
        (("automatic", "automatic (the job)"), ("manual", "manual (an administrator)")),
        rows,
        y_max=max(step * 4, 1),
        tick_step=step,
        max_labels=8,
    )


# -- the page -----------------------------------------------------------------------


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _machine_time(value: str) -> str:
    """An instant as HTML's ``datetime`` attribute takes it: at most three digits of a second (the JSON keeps six)."""
    moment = datetime.fromisoformat(value)
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


# Longer than this, a word (or a piece of an address) may break anywhere: a column as wide as
# it would push the table off the paper. Shorter words are never broken.
LONG_WORD = 40
_ADDRESS_PIECES = re.compile(r"[^@.]*[@.]|[^@.]+")


def _word(word: str) -> Markup:
    """``word`` kept on one line (a browser would break after a hyphen, say), or breakable anywhere if too long."""
    css = "long" if len(word) > LONG_WORD else "nb"
    return Markup('<span class="{}">{}</span>').format(css, word)


def _address(value: str) -> Markup:
    """An e-mail address that may break after ``@`` or ``.`` only: each piece kept whole, ``<wbr>`` between them."""
    return Markup("<wbr>").join(_word(piece) for piece in _ADDRESS_PIECES.findall(value))


def _text(value: str) -> Markup:
    """Free text that breaks only at spaces, except in words longer than LONG_WORD."""
    return Markup("").join(
        escape(word) if word.isspace() or (word.isalnum() and len(word) <= LONG_WORD) else _word(word)
        for word in re.split(r"(\s+)", value)
        if word
    )


_jinja.filters.update(when=_when, machine_time=_machine_time, address=_address, text=_text)


def render_evidence_page(evidence: DeactivationEvidence, *, environment: str, version: str) -> str:
    """The whole HTML document (text); serve it with :data:`HEADER_POLICY` as its Content-Security-Policy."""
    document = evidence.to_dict()
    problem_runs = [r for r in document["runs"] if not r["dry_run"] and r["outcome"] in PROBLEM_OUTCOMES]
    return _jinja.get_template("evidence.html").render(
        report=document,
        summary=document["summary"],
        chain=document.get("evidence_chain"),
        environment=environment,
        version=version,
        digest=evidence.sha256(),
        charts=(schedule_chart(document), weekly_chart(document)),
        problem_runs=problem_runs,
        style=STYLE,
        policy=META_POLICY,
    )


__all__ = ["HEADER_POLICY", "project_version", "render_evidence_page", "schedule_chart", "weekly_chart"]
