"""The hourly inactive-account job as one call: :func:`run_hourly_job`.

One run, in order:

1. check that the database answers, holds OPS's users and is migrated
   (:func:`check_database`); if not, alert and stop (nothing can be recorded);
2. record that the run started (an ``ops_event`` that reads "running" until
   step 5 completes it, so a run killed outright still shows);
3. run the rule under the one-run-at-a-time lock (``UserDeactivationService``),
   with a statement timeout on every statement of the job's session and, once
   a stop is requested, the statement it waits on cancelled after a short grace
   (steps 2 to 5: services/job_database.py);
4. alert on the result (and on a run that could not run);
5. complete the run's record (alert again if that fails: the evidence is missing);
6. plan and send the e-mail that follows the run (notices, summaries, warnings);
7. pick the exit status.

Everything it needs comes in as arguments: the session, the settings mapping,
the clock, the migrations directory. It never reads Flask's globals, so a CLI,
a test or an admin page can run the same job. The caller renders the
:class:`JobResult`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from ops_api.clock import utcnow
from ops_api.services import job_runs
from ops_api.services.alerts import AlertSettings, alert_for_error, alert_for_report, send_alert
from ops_api.services.job_database import JobEnvironmentError, check_database, job_statement_bounds
from ops_api.services.notifications import MailSettings, NotificationReport, NotificationService, notify_after_run
from ops_api.services.user_deactivation import DeactivationReport, RunOutcome, UserDeactivationService, describe_error

__all__ = ["JobEnvironmentError", "JobOptions", "JobResult", "check_database", "run_hourly_job"]

logger = logging.getLogger("ops_api.hourly_job")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED_BY_CAP = 3

EXIT_CODES = {
    RunOutcome.COMPLETED: EXIT_OK,
    RunOutcome.SKIPPED: EXIT_OK,
    RunOutcome.FAILED: EXIT_FAILED,
    RunOutcome.REFUSED_BY_CAP: EXIT_REFUSED_BY_CAP,
}

@dataclass(frozen=True)
class JobOptions:
    """One run's options (the command line's): None means the setting's value."""

    days: int | None = None
    dry_run: bool = False
    as_of: datetime | None = None
    max_disable: int | None = None
    send_email: bool = True


@dataclass
class JobResult:
    """Everything one run did, for the caller to render.

    ``report`` is None when the run could not run; ``errors`` are one-line
    messages meant for the operator (stderr); ``exit_code`` is the status the
    process should end with.
    """

    options: JobOptions
    report: DeactivationReport | None = None
    mail: NotificationReport | None = None
    errors: list[str] = field(default_factory=list)
    could_not_run: str | None = None
    alerts_sent: list[bool] = field(default_factory=list)
    run_event_id: int | None = None
    recorded: bool = False
    # Warning stages left out because --days was at or below them (see short_threshold_stages).
    warnings_left_out: tuple[int, ...] = ()
    exit_code: int = EXIT_FAILED


# -- short thresholds ----------------------------------------------------------


def short_threshold_stages(warn_days: tuple[int, ...], inactive_days: int) -> tuple[int, ...]:
    """The warning stages a run with this threshold cannot send: those at or above it.

    A warning N days ahead of a threshold of N days or less would come before
    the account could even be idle that long. Such a run sends the other
    stages (if any), and always the notices and summaries.
    """
    return tuple(stage for stage in warn_days if stage >= inactive_days)


# -- the job ---------------------------------------------------------------------


def run_hourly_job(
    session: Session | scoped_session[Session],
    config: Mapping[str, Any],
    *,
    options: JobOptions,
    migrations_directory: str,
    clock: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] = lambda: False,
) -> JobResult:
    """Run the inactive-account job once; return what it did. Never raises for a job failure."""
    if options.as_of is not None and not options.dry_run:
        raise ValueError("as_of is accepted only with dry_run; a real run always uses now")
    result = JobResult(options=options)
    alerts = AlertSettings.from_config(config)
    engine = session.get_bind().engine
    started_at = clock()

    def alert(alert_to_send: Any) -> None:
        result.alerts_sent.append(send_alert(alerts, alert_to_send))

    try:
        check_database(engine, migrations_directory)
    except JobEnvironmentError as exc:
        # Unreachable, or without the schema: no ops_event can be written there.
        result.could_not_run = str(exc)
        result.errors.append(f"error: {exc}")
        alert(alert_for_error(str(exc), env_name=alerts.env_name, dry_run=options.dry_run))
        result.exit_code = EXIT_FAILED
        return result

    with job_statement_bounds(session, config, should_stop=should_stop):
        report = _run_and_record(result, session, config, alerts, alert, clock, should_stop, started_at)
    if report is None:
        return result
    # Also after a stop request: the notices for users this run disabled are
    # planned from its report, so no later run could send them.
    if options.send_email:
        result.warnings_left_out = short_threshold_stages(
            tuple(config["DEACTIVATION_WARN_DAYS"]), report.threshold_days
        )
        service = service_for(session, config, options, clock)
        result.mail = _notify(session, config, service, report, clock=clock, leave_out=result.warnings_left_out)
    # Mail never changes the exit code: failures are logged, recorded as FAILED events and retried.
    # A run without its record does: it failed to leave the evidence it exists for.
    result.exit_code = EXIT_CODES[report.outcome] if result.recorded else EXIT_FAILED
    return result


def service_for(
    session: Any, config: Mapping[str, Any], options: JobOptions, clock: Callable[[], datetime]
) -> UserDeactivationService:
    """The rule's service for these options, on this session and clock."""
    service = UserDeactivationService.from_config(session, config, inactive_days=options.days)
    service.clock = clock
    return service


def _run_and_record(
    result: JobResult,
    session: Any,
    config: Mapping[str, Any],
    alerts: AlertSettings,
    alert: Callable[[Any], None],
    clock: Callable[[], datetime],
    should_stop: Callable[[], bool],
    started_at: datetime,
) -> DeactivationReport | None:
    """Record the start, run the rule, alert, complete the record; None when the run could not run."""
    options = result.options
    threshold_days = options.days or config["DEACTIVATION_INACTIVE_DAYS"]
    result.run_event_id = _record_start(session, options, threshold_days=threshold_days, started_at=started_at)
    try:
        service = service_for(session, config, options, clock)
        report = service.disable_inactive_users(
            dry_run=options.dry_run, max_disable=options.max_disable, as_of=options.as_of, should_stop=should_stop
        )
    except Exception as exc:  # the run could not run: say so in one line, details in the log
        error = describe_error(exc)
        if should_stop():
            error = f"stopped on request while waiting for the database ({error})"
        logger.error("disable-inactive-users could not run: %s", exc, exc_info=True, extra={"event": "run_error"})
        result.could_not_run = error
        result.errors.append(f"error: disable-inactive-users could not run: {error}")
        alert(alert_for_error(error, env_name=alerts.env_name, dry_run=options.dry_run))
        result.recorded = _record(
            result,
            job_runs.record_failed_run,
            session,
            error=error,
            dry_run=options.dry_run,
            threshold_days=threshold_days,
            started_at=started_at,
            as_of=options.as_of,
            event_id=result.run_event_id,
            now=clock(),
        )
        result.exit_code = EXIT_FAILED
        return None

    result.report = report
    alert(alert_for_report(report, env_name=alerts.env_name))
    result.recorded = _record(result, job_runs.record_run, session, report, event_id=result.run_event_id, now=clock())
    if not result.recorded:
        # The run's evidence is missing: an auditor would see an hour with no
        # run. Say so loudly, whatever the run itself did.
        alert(
            alert_for_error(
                "the run finished but its record could not be written to ops_event",
                env_name=alerts.env_name,
                dry_run=options.dry_run,
            )
        )
    return report


def _record_start(session: Any, options: JobOptions, *, threshold_days: int, started_at: datetime) -> int | None:
    """Write the "running" event; None (logged) if it cannot be written: the end of the run tries again."""
    try:
        return job_runs.record_start(
            session,
            dry_run=options.dry_run,
            threshold_days=threshold_days,
            max_disable=options.max_disable,
            as_of=options.as_of,
            started_at=started_at,
        )
    except Exception as exc:
        logger.error(
            "could not record the run's start in ops_event: %s",
            describe_error(exc),
            extra={"event": "run_start_not_written", "error": describe_error(exc)},
        )
        return None


def _record(result: JobResult, write: Any, *args: Any, **kwargs: Any) -> bool:
    """Complete the run's ops_event; return whether it was written (a failure is logged and kept in ``errors``)."""
    try:
        result.run_event_id = write(*args, **kwargs)
    except Exception as exc:
        logger.error(
            "could not record the run in ops_event: %s",
            describe_error(exc),
            extra={"event": "run_event_not_written", "error": describe_error(exc)},
        )
        result.errors.append(f"error: the run could not be recorded in ops_event: {describe_error(exc)}")
        return False
    return True


def _notify(
    session: Any,
    config: Mapping[str, Any],
    service: UserDeactivationService,
    report: DeactivationReport,
    *,
    clock: Callable[[], datetime],
    leave_out: tuple[int, ...],
) -> NotificationReport | None:
    """Warnings, notices and the admins' summary after the run; a problem is logged, never raised."""
    try:
        settings = MailSettings.from_config(config)
        if leave_out:
            settings = dataclasses.replace(
                settings, warn_days=tuple(stage for stage in settings.warn_days if stage not in leave_out)
            )
            logger.warning(
                "the threshold of %s days is at or below the warning stages %s: this run sends no such warning",
                report.threshold_days,
                ", ".join(map(str, leave_out)),
                extra={"event": "warnings_left_out", "stages": list(leave_out), "threshold_days": report.threshold_days},
            )
        mail = NotificationService(session, settings, service, clock=clock)
        return notify_after_run(mail, report)
    except Exception as exc:
        session.rollback()
        logger.error(
            "inactivity e-mail could not be planned or sent: %s",
            describe_error(exc),
            exc_info=True,
            extra={"event": "notifications_error", "error": describe_error(exc)},
        )
        return None
