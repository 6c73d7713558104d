"""Whether a run may trust "now": pure decisions over two clock readings and the run history.

A real run takes "now" from the database server, the clock OPS's own requests
write activity with. The process running the job reads its own clock too;
when the two disagree by more than CLOCK_TOLERANCE, or the database's clock
lies before the start of a run already recorded, one of them is wrong, and a
run that trusted it could take everyone's activity for months old (or for
the future). Such a run changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Hosts kept by NTP agree to well under a second; minutes apart means a clock is wrong.
CLOCK_TOLERANCE = timedelta(minutes=5)


def describe_gap(gap: timedelta) -> str:
    """A clock difference for a person, rounded to its largest unit: "6 years", "3 days", "2 hours", "40 seconds"."""
    seconds = abs(gap.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * 0.95:
            count = max(round(seconds / size), 1)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{round(seconds)} seconds"


def clock_problem(*, database_now: datetime, process_now: datetime, latest_run_start: datetime | None) -> str | None:
    """Why "now" cannot be trusted, in one line; None when it can."""
    skew = process_now - database_now
    if abs(skew) > CLOCK_TOLERANCE:
        direction = "ahead of" if skew > timedelta(0) else "behind"
        return (
            f"the job's clock ({process_now.isoformat()}) is {describe_gap(skew)} {direction} the database server's "
            f"({database_now.isoformat()}), more than the {describe_gap(CLOCK_TOLERANCE)} allowed; "
            "fix the clock that is wrong before the next run"
        )
    if latest_run_start is not None and latest_run_start > database_now + CLOCK_TOLERANCE:
        return (
            f"the database server's clock ({database_now.isoformat()}) is {describe_gap(latest_run_start - database_now)} "
            f"earlier than the start of the latest recorded run ({latest_run_start.isoformat()}); "
            "fix the clock that is wrong before the next run"
        )
    return None
