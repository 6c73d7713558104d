"""Failure alerts for the inactive-account job, sent with Apprise.

Apprise turns one URL into a notification on Teams (``msteams://``), Slack
(``slack://``), e-mail (``mailto://``) or a generic JSON webhook
(``json://host:port/path``), so the job needs one setting, ``OPS_ALERT_URLS``,
whatever the destination.

When an alert is due (see :func:`alert_for_report` and :func:`alert_for_error`):

* the run failed (it could not run, or a user could not be disabled);
* the safety cap refused the run.

No alert for a clean run, a dry run (a person is watching it), or a run
skipped because another run holds the lock.

Sending never raises and never blocks for long: Apprise runs in a child
process that is killed when it has not finished within ``timeout_seconds``
(10 s). Whatever goes wrong (a URL Apprise does not understand, a receiver
that refuses, fails or never answers) is logged as one JSON line with
``"event": "alert_failed"``, and the job carries on to exit with the code of
the original outcome.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops_api.config import DEFAULT_ENV_NAME
from ops_api.services.user_deactivation import DeactivationReport, RunOutcome

logger = logging.getLogger(__name__)

JOB_NAME = "disable-inactive-users"
# The longest the job waits for the notifier, in seconds.
DEFAULT_TIMEOUT_SECONDS = 10.0
# How many errors an alert quotes; the log and the run-summary event have the rest.
MAX_ERRORS_IN_ALERT = 5

FAILURE = "failure"
WARNING = "warning"


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and how long to wait for them. Built from the settings; never reads Flask globals."""

    urls: tuple[str, ...] = ()
    env_name: str = DEFAULT_ENV_NAME
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AlertSettings:
        return cls(urls=tuple(config["ALERT_URLS"]), env_name=config["ENV_NAME"])


@dataclass(frozen=True)
class Alert:
    title: str
    body: str
    level: str  # FAILURE or WARNING

    def to_dict(self) -> dict[str, str]:
        return {"title": self.title, "body": self.body, "level": self.level}


def alert_for_report(report: DeactivationReport, *, env_name: str) -> Alert | None:
    """The alert a finished run calls for, or None (clean, dry or skipped runs)."""
    if report.dry_run:
        return None
    outcome = report.outcome
    if outcome is RunOutcome.FAILED:
        level, headline = FAILURE, "FAILED"
    elif outcome is RunOutcome.REFUSED_BY_CAP:
        level, headline = WARNING, "REFUSED by the safety cap"
    else:  # COMPLETED or SKIPPED
        return None
    lines = [
        f"Environment: {env_name}",
        f"Outcome: {outcome.value}",
        f"Run as of: {report.as_of.isoformat()} (threshold {report.threshold_days} days, cap {report.max_disable or 'none'})",
        (
            f"Counts: {len(report.candidates)} due, {len(report.disabled)} disabled, "
            f"{len(report.failed)} failed, {len(report.no_longer_due)} left alone"
        ),
    ]
    if report.skipped_reason:
        lines.append(f"Note: {report.skipped_reason}")
    errors = [f"user {f.user_id}: {f.error}" for f in report.failed]
    lines.extend(_first_errors(errors))
    lines.append(_RUNBOOK_HINT)
    return Alert(title=f"[{env_name}] {JOB_NAME} {headline}", body="\n".join(lines), level=level)


def alert_for_error(error: str, *, env_name: str, dry_run: bool = False) -> Alert | None:
    """The alert for a run that could not run at all (database, schema, an unexpected error)."""
    if dry_run:
        return None
    lines = [
        f"Environment: {env_name}",
        "Outcome: failed (the run could not run to its end)",
        "Counts: unknown (the run stopped before it reported them)",
        *_first_errors([error]),
        _RUNBOOK_HINT,
    ]
    return Alert(title=f"[{env_name}] {JOB_NAME} FAILED: could not run", body="\n".join(lines), level=FAILURE)


_RUNBOOK_HINT = "What to do: docs/runbook.md, section Alerts."


def _first_errors(errors: Sequence[str]) -> list[str]:
    if not errors:
        return []
    shown = [f"- {error}" for error in errors[:MAX_ERRORS_IN_ALERT]]
    more = len(errors) - MAX_ERRORS_IN_ALERT
    if more > 0:
        shown.append(f"- ... and {more} more (see the job's log)")
    return ["First errors:", *shown]


def send_alert(settings: AlertSettings, alert: Alert | None) -> bool:
    """Send ``alert`` to every configured URL; return whether all of them took it.

    Never raises, and returns within about ``settings.timeout_seconds``.
    """
    if alert is None or not settings.urls:
        return False
    try:
        return _send(settings, alert)
    except Exception as exc:  # the notifier must never hide the failure it reports
        _log_failure(alert, f"{type(exc).__name__}: {exc}", [])
        return False


def _send(settings: AlertSettings, alert: Alert) -> bool:
    # Apprise sends from a thread pool of its own whose threads the interpreter
    # waits for at exit, so a receiver that never answers could hold the job
    # long after a thread-based timeout gave up. A child process can be killed:
    # the bound is hard, whatever Apprise does inside it.
    request = json.dumps({"urls": list(settings.urls), **alert.to_dict()})
    child = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(request, timeout=settings.timeout_seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.communicate(timeout=2)
        _log_failure(alert, f"no answer from the notifier within {settings.timeout_seconds:g} s", [])
        return False
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = [line for line in err.strip().splitlines()[-3:] if line]
        _log_failure(alert, f"the notifier process ended with exit code {child.returncode}", tail)
        return False
    problems = list(result.get("problems", []))
    if not result.get("sent"):
        _log_failure(alert, result.get("error") or "the notifier could not deliver the alert", problems)
        return False
    if problems:
        _log_failure(alert, "the alert reached only some of the destinations", problems)
        return False
    logger.info(
        "alert sent: %s",
        alert.title,
        extra={"event": "alert_sent", "level": alert.level, "destinations": len(settings.urls)},
    )
    return True


def deliver(request: Mapping[str, Any]) -> dict[str, Any]:
    """Send one alert with Apprise, in the current process; return what happened.

    Runs in the child process started by :func:`send_alert`. Apprise's own
    warnings come back as ``problems``, with any URL in them redacted.
    """
    import apprise

    captured = _CapturedLog()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.propagate = False
    apprise_logger.addHandler(captured)
    notifier = apprise.Apprise()
    problems = [
        f"OPS_ALERT_URLS entry {position} is not a URL Apprise understands"
        for position, url in enumerate(request["urls"], start=1)
        if not notifier.add(url)
    ]
    if len(notifier) == 0:
        return {"sent": False, "error": "no usable alert URL", "problems": problems}
    notify_type = apprise.NotifyType.FAILURE if request["level"] == FAILURE else apprise.NotifyType.WARNING
    try:
        sent = bool(notifier.notify(body=request["body"], title=request["title"], notify_type=notify_type))
    except Exception as exc:
        return {"sent": False, "error": f"{type(exc).__name__}: {exc}", "problems": problems + captured.messages}
    return {"sent": sent, "problems": problems + captured.messages}


_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _redact(message: str) -> str:
    # Apprise quotes a URL it cannot parse; URLs carry tokens and passwords.
    return _ANY_URL.sub("<url>", message)


def _log_failure(alert: Alert, error: str, details: list[str]) -> None:
    logger.error(
        "could not send the alert %r: %s",
        alert.title,
        error,
        extra={"event": "alert_failed", "error": error, "details": details, "alert": alert.to_dict()},
    )


class _CapturedLog(logging.Handler):
    """Keeps Apprise's warnings and errors, with any URL in them replaced by ``<url>``."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        with self._guard:
            self.messages.append(_redact(message))


if __name__ == "__main__":
    # The child process of send_alert: one request on stdin, one JSON line on stdout.
    print(json.dumps(deliver(json.load(sys.stdin))), flush=True)
