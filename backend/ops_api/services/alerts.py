"""Failure alerts for the inactive-account job: when one is due, what it says, and sending it.

One setting, ``OPS_ALERT_URLS``, names the destinations: Teams, Slack, e-mail
or a generic JSON webhook (the URL forms are in :mod:`.alert_delivery`).

When an alert is due (see :func:`alert_for_report` and :func:`alert_for_error`):

* the run failed (it could not run, or a user could not be disabled), or a
  stop request ended it;
* the safety cap refused the run;
* the e-mail step failed (it could not run, or no message could be sent):
  the deactivations stand, but users and admins were not told.

No alert for a clean run, a dry run (a person is watching it), or a run
skipped because another run holds the lock.

Sending happens in this process and never raises: every destination is tried
at once and the job waits for them at most ``timeout_seconds`` (10 s) in all.
Whatever goes wrong (a URL that is not usable, a receiver that refuses, fails
or never answers) is logged as one JSON line with ``"event": "alert_failed"``,
and the job carries on to exit with the code of the original outcome, so the
platform's own failed-execution alert still fires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ops_api.adapters.alert_delivery import deliver, redact
from ops_api.adapters.alert_destinations import FAILURE, WARNING
from ops_api.adapters.smtp_mail import TlsTrust
from ops_api.domain.defaults import JOB_NAME
from ops_api.domain.evidence_chain import ChainVerdict
from ops_api.services.users.user_deactivation import DeactivationReport, RunOutcome

logger = logging.getLogger(__name__)

# The longest the job waits for all destinations together, in seconds.
DEFAULT_TIMEOUT_SECONDS = 10.0
# How many errors an alert quotes; the log and the run-summary event have the rest.
MAX_ERRORS_IN_ALERT = 5

__all__ = [
    "FAILURE",
    "WARNING",
    "Alert",
    "AlertSettings",
    "alert_for_chain",
    "alert_for_error",
    "alert_for_mail",
    "alert_for_report",
    "send_alert",
]


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and how long to wait for them. Built from the settings; never reads Flask globals."""

    # No defaults for what the settings decide (ops_api.config applies them).
    urls: tuple[str, ...]
    env_name: str
    # The certificates e-mail destinations accept: the same as the inactivity e-mail's.
    mail_tls_trust: TlsTrust
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS  # a bound of this module's, not a setting

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AlertSettings:
        return cls(urls=tuple(config["ALERT_URLS"]), env_name=config["ENV_NAME"], mail_tls_trust=TlsTrust.from_config(config))


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
    elif outcome is RunOutcome.STOPPED:
        level, headline = FAILURE, "STOPPED before it finished"
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


def alert_for_mail(error: str, *, env_name: str, dry_run: bool = False) -> Alert | None:
    """The alert for an e-mail step that failed after the deactivations (which stand)."""
    if dry_run:
        return None
    lines = [
        f"Environment: {env_name}",
        "Outcome: the deactivations were done, but the e-mail step failed (exit code 4)",
        "Warnings, notices and summaries owed are tried again by the next run.",
        *_first_errors([error]),
        _RUNBOOK_HINT,
    ]
    return Alert(title=f"[{env_name}] {JOB_NAME} E-MAIL FAILED", body="\n".join(lines), level=FAILURE)


def alert_for_chain(verdict: ChainVerdict, *, env_name: str, dry_run: bool = False) -> Alert | None:
    """The alert for a broken evidence chain: a record of the job's was deleted, edited or inserted. Like a failed run."""
    if dry_run or verdict.intact:
        return None
    lines = [
        f"Environment: {env_name}",
        "Outcome: the chain of the job's run and e-mail records is broken (someone changed the evidence)",
        *_first_errors([b.describe() for b in verdict.breaks]),
        "What to do: docs/runbook.md, section Evidence chain broken.",
    ]
    return Alert(title=f"[{env_name}] {JOB_NAME} EVIDENCE CHAIN BROKEN", body="\n".join(lines), level=FAILURE)


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

    Never raises, and returns within ``settings.timeout_seconds`` (plus a few
    milliseconds of bookkeeping).
    """
    if alert is None or not settings.urls:
        return False
    try:
        deliveries = deliver(
            settings.urls,
            title=alert.title,
            body=alert.body,
            level=alert.level,
            timeout_seconds=settings.timeout_seconds,
            tls_trust=settings.mail_tls_trust,
        )
    except Exception as exc:  # the notifier must never hide the failure it reports
        _log_failure(alert, redact(f"{type(exc).__name__}: {exc}"), [])
        return False
    problems = [delivery.problem for delivery in deliveries if delivery.problem]
    delivered = sum(1 for delivery in deliveries if delivery.delivered)
    if problems:
        error = (
            f"the alert reached none of the {len(deliveries)} destinations"
            if delivered == 0
            else f"the alert reached {delivered} of the {len(deliveries)} destinations"
        )
        _log_failure(alert, error, problems)
        return False
    logger.info(
        "alert sent: %s",
        alert.title,
        extra={"event": "alert_sent", "level": alert.level, "destinations": delivered},
    )
    return True


def _log_failure(alert: Alert, error: str, details: list[str]) -> None:
    logger.error(
        "could not send the alert %r: %s",
        alert.title,
        error,
        extra={"event": "alert_failed", "error": error, "details": details, "alert": alert.to_dict()},
    )
