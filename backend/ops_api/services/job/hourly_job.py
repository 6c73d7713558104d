"""The hourly inactive-account job: :func:`run_hourly_job` sequences one run, and is the only place that does.

One run, in order:

1. the database answers, holds OPS's users, is migrated and has this
   project's triggers (:func:`check_database`); if not, alert and stop
   (nothing can be recorded);
2. "now" comes from the injected clock (the database server's, for the
   command); the process's own clock must agree with it, and no recorded run
   may have started later (:func:`ops_api.domain.clocks.clock_problem`); if
   not, alert and stop, changing nothing;
3. the run's record is written ("running"), so a run killed outright still shows;
4. under the one-run lock (PostgreSQL; a dry run takes none), with every
   statement bounded and cancellable once a stop is requested
   (:func:`job_statement_bounds`):

   a. once a day the view of each user is reconciled with OPS's rows; dates
      later than now are recorded (a dry run only names them); users without
      any date are named;
   b. the candidates are found, and the safety cap applied;
   c. each due user is disabled in a transaction of its own
      (``UserDeactivationService.disable_one``), until a stop is requested;

5. the e-mail that follows the run (notices, summaries, warnings), still
   bounded and stoppable between messages;
6. alerts: a run that failed or was stopped, a refusal by the cap, an e-mail
   step that failed;
7. the record is completed;
8. the exit status is chosen.

Everything it needs comes in as arguments: the session, the settings mapping,
the clocks, the migrations directory and the stop request. It never reads
Flask's globals, so a CLI, a test or an admin page can run the same job. The
caller renders the :class:`JobResult`.

Transactions: the run owns its session's transactions. It refuses a session
that holds uncommitted work (it would have to discard it), then commits each
step's work itself: one transaction per disabled user, the records on
sessions of their own (:mod:`ops_api.services.job.job_runs`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from ops_api.adapters.statement_watcher import job_statement_bounds
from ops_api.advisory_lock import LockPurpose, try_advisory_lock
from ops_api.clock import utcnow
from ops_api.domain.clocks import clock_problem
from ops_api.domain.defaults import MAX_INACTIVE_DAYS
from ops_api.domain.evidence_chain import ChainVerdict, EvidenceKeys
from ops_api.errors import describe_error
from ops_api.job_logging import LogSample
from ops_api.services import evidence
from ops_api.services.alerts import (
    AlertSettings,
    alert_for_chain,
    alert_for_error,
    alert_for_mail,
    alert_for_report,
    send_alert,
)
from ops_api.services.job import job_runs
from ops_api.services.job.job_database import JobEnvironmentError, check_database
from ops_api.services.mail.notifications import MailSettings, NotificationReport, NotificationService, notify_after_run
from ops_api.services.users.user_deactivation import (
    DeactivationReport,
    FailedUser,
    RunOutcome,
    UserDeactivationService,
    check_as_of,
)
from ops_api.transactions import require_no_pending_work

__all__ = ["JobEnvironmentError", "JobOptions", "JobResult", "check_database", "run_hourly_job"]

logger = logging.getLogger("ops_api.hourly_job")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED_BY_CAP = 3
# The deactivations were done (or nobody was due) but the e-mail step failed.
EXIT_MAIL_FAILED = 4

EXIT_CODES = {
    RunOutcome.COMPLETED: EXIT_OK,
    RunOutcome.SKIPPED: EXIT_OK,
    RunOutcome.FAILED: EXIT_FAILED,
    RunOutcome.STOPPED: EXIT_FAILED,
    RunOutcome.REFUSED_BY_CAP: EXIT_REFUSED_BY_CAP,
}


class JobOptionsError(ValueError):
    """Options a run cannot take (the command's usage error); nothing was done."""


@dataclass(frozen=True)
class JobOptions:
    """One run's options (the command line's): None means the setting's value. Checked once, here."""

    days: int | None = None
    dry_run: bool = False
    as_of: datetime | None = None
    max_disable: int | None = None
    send_email: bool = True

    def __post_init__(self) -> None:
        if self.as_of is not None:
            if not self.dry_run:
                raise JobOptionsError("--as-of is accepted only with --dry-run; a real run always uses now")
            try:
                object.__setattr__(self, "as_of", check_as_of(self.as_of))
            except (ValueError, OverflowError) as exc:
                raise JobOptionsError(str(exc)) from None
        if self.days is not None and (isinstance(self.days, bool) or not 1 <= self.days <= MAX_INACTIVE_DAYS):
            raise JobOptionsError(f"--days must be a whole number from 1 to {MAX_INACTIVE_DAYS}")
        if self.max_disable is not None and (isinstance(self.max_disable, bool) or self.max_disable < 0):
            raise JobOptionsError("--max-disable must be a whole number of at least 0")


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
    # Why the e-mail step failed, when it did (the deactivations stand).
    mail_error: str | None = None
    errors: list[str] = field(default_factory=list)
    could_not_run: str | None = None
    alerts_sent: list[bool] = field(default_factory=list)
    run_id: int | None = None
    recorded: bool = False
    # The evidence chain over the last month, verified after the run's record was completed (None: not verified).
    chain: ChainVerdict | None = None
    # Warning stages left out because --days was at or below them (see short_threshold_stages).
    warnings_left_out: tuple[int, ...] = ()
    exit_code: int = EXIT_FAILED


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
    process_clock: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] = lambda: False,
) -> JobResult:
    """Run the inactive-account job once; return what it did. Never raises for a job failure.

    ``clock`` gives "now" (the command passes the database server's clock);
    ``process_clock`` is this process's, checked against it.
    """
    own = session() if isinstance(session, scoped_session) else session
    require_no_pending_work(own, "run_hourly_job")
    result = JobResult(options=options)
    alerts = AlertSettings.from_config(config)

    def alert(alert_to_send: Any) -> None:
        result.alerts_sent.append(send_alert(alerts, alert_to_send))

    def could_not_run(error: str) -> JobResult:
        result.could_not_run = error
        result.errors.append(f"error: {error}")
        alert(alert_for_error(error, env_name=alerts.env_name, dry_run=options.dry_run))
        result.exit_code = EXIT_FAILED
        return result

    keys = evidence.keys_from_config(config)
    if config.get("EVIDENCE_KEY_REQUIRED") and not keys.signed:
        return could_not_run(
            "OPS_EVIDENCE_KEY is not set: a deployed environment signs the job's run and e-mail records "
            "(docs/runbook.md, Evidence chain)"
        )
    try:
        check_database(own.get_bind().engine, migrations_directory)
        now = clock()
        problem = clock_problem(
            database_now=now, process_now=process_clock(), latest_run_start=job_runs.latest_run_start(own)
        )
    except JobEnvironmentError as exc:
        return could_not_run(str(exc))  # unreachable, without the schema: no record can be written there
    if problem is not None:
        return could_not_run(f"refused to run: {problem}")

    service = UserDeactivationService.from_config(own, config, inactive_days=options.days, clock=clock)
    max_disable = service.max_disable if options.max_disable is None else options.max_disable
    report = DeactivationReport(
        as_of=options.as_of or now, threshold_days=service.inactive_days, dry_run=options.dry_run, max_disable=max_disable
    )
    started = time.monotonic()
    with job_statement_bounds(own, config, should_stop=should_stop):
        result.run_id = _record_start(own, report, started_at=now, keys=keys)
        try:
            run_rule(service, report, now=now, should_stop=should_stop)
        except Exception as exc:  # the run could not run to its end: say so in one line, details in the log
            own.rollback()
            error = describe_error(exc)
            stopped = should_stop()
            if stopped:
                error = f"stopped on request while waiting for the database ({error})"
            logger.error("disable-inactive-users could not run: %s", error, exc_info=True, extra={"event": "run_error"})
            result.could_not_run = error
            result.errors.append(f"error: disable-inactive-users could not run: {error}")
            alert(alert_for_error(error, env_name=alerts.env_name, dry_run=options.dry_run))
            result.recorded = _record(
                result, job_runs.record_failed_run, own, report, error=error, started_at=now, stopped=stopped,
                run_id=result.run_id, now=clock(), keys=keys,
            )
            _verify_chain(result, own, keys, now=clock(), alert=alert, env_name=alerts.env_name, dry_run=options.dry_run)
            return result
        if options.send_email and not report.skipped_by_lock:
            result.warnings_left_out = short_threshold_stages(tuple(config["DEACTIVATION_WARN_DAYS"]), report.threshold_days)
            result.mail, result.mail_error = _notify(own, config, service, report, leave_out=result.warnings_left_out,
                                                     should_stop=should_stop, keys=keys)
        if should_stop() and not report.dry_run and not report.stopped_early:
            report.stopped_early = True
            report.skipped_reason = "stopped on request during the e-mail step; every deactivation stands"
    report.duration_seconds = round(time.monotonic() - started, 3)
    _log_summary(report)

    alert(alert_for_report(report, env_name=alerts.env_name))
    if result.mail_error is not None:
        alert(alert_for_mail(result.mail_error, env_name=alerts.env_name, dry_run=report.dry_run))
    result.report = report
    result.recorded = _record(
        result, job_runs.record_run, own, report, mail=result.mail, mail_error=result.mail_error, run_id=result.run_id,
        now=clock(), keys=keys,
    )
    if not result.recorded:
        # The run's evidence is missing: an auditor would see an hour with no
        # run. Say so loudly, whatever the run itself did.
        alert(alert_for_error("the run finished but its record could not be written", env_name=alerts.env_name,
                              dry_run=options.dry_run))
    _verify_chain(result, own, keys, now=clock(), alert=alert, env_name=alerts.env_name, dry_run=options.dry_run)
    result.exit_code = _exit_code(result, report)
    return result


def _verify_chain(
    result: JobResult,
    session: Session,
    keys: EvidenceKeys,
    *,
    now: datetime,
    alert: Callable[[Any], None],
    env_name: str,
    dry_run: bool,
) -> None:
    """Verify the last month of the evidence chain; a broken one is an error line, a log line and an alert (real runs)."""
    try:
        verdict = evidence.verify_recent(session, keys, now=now)
        session.rollback()  # end the read
    except Exception as exc:  # the run's own outcome stands; the health check verifies again
        session.rollback()
        logger.error("could not verify the evidence chain: %s", describe_error(exc),
                     extra={"event": "evidence_chain_unverified", "error": describe_error(exc)})
        return
    result.chain = verdict
    if verdict.intact:
        return
    logger.error("evidence chain broken: %s", verdict.describe(),
                 extra={"event": "evidence_chain_broken", "breaks": [b.to_dict() for b in verdict.breaks]})
    result.errors.append(f"error: {verdict.describe()}")
    alert(alert_for_chain(verdict, env_name=env_name, dry_run=dry_run))


def _exit_code(result: JobResult, report: DeactivationReport) -> int:
    """The run's own status first; then a missing record; then a failed e-mail step."""
    code = EXIT_CODES[report.outcome]
    if not result.recorded:
        return EXIT_FAILED
    if code == EXIT_OK and result.mail_error is not None and not report.dry_run:
        return EXIT_MAIL_FAILED
    return code


# -- the rule's part ----------------------------------------------------------------


def run_rule(
    service: UserDeactivationService, report: DeactivationReport, *, now: datetime, should_stop: Callable[[], bool]
) -> None:
    """The rule's part of one run: under the one-run lock (real runs), find who is due and disable them.

    Fills ``report``; records, alerts and mail are run_hourly_job's. Public so
    that the benchmark can time this part alone, through the job's own code.
    """
    session = service.session
    session.rollback()  # a clean transaction boundary
    lock = try_advisory_lock(session.get_bind(), LockPurpose.RUN) if not report.dry_run else _no_lock()
    with lock as acquired:
        if not acquired:
            report.skipped_by_lock = True
            report.skipped_reason = "skipped: another run is in progress"
            return
        owed = service.housekeeping_owed(now, dry_run=report.dry_run)
        if report.dry_run:
            if owed.future_dates:
                service.name_future_dates(now)
        elif owed.reconcile:
            # The reconciliation can add rows with any dates: every step after it runs.
            service.reconcile_view(now)
            report.reconciled = True
            service.correct_future_dates(now)
            owed = replace(owed, undatable=True)
        elif owed.correction:
            service.correct_future_dates(now)
        if owed.undatable:
            service.name_undatable_users()
        report.candidates = service.find_inactive_users(report.as_of if report.dry_run else None)
        session.rollback()  # end the read; each user gets a transaction of its own

        due = len(report.candidates)
        if report.max_disable and due > report.max_disable:
            report.refused_by_cap = True
            report.skipped_reason = (
                f"refused by the safety cap: {due} users are due, more than the cap of "
                f"{report.max_disable}; nobody was disabled"
                + ("" if report.dry_run else f" (rerun with --max-disable {due} once the activity data is checked)")
            )
            return
        if report.dry_run or not report.candidates:
            return
        _disable_each(service, report, should_stop=should_stop)


def _disable_each(service: UserDeactivationService, report: DeactivationReport, *, should_stop: Callable[[], bool]) -> None:
    """Each due user in a transaction of its own; one user's failure never stops the others. A stop ends the loop."""
    session = service.session
    actor = service.acting_system_admin()
    disabled_lines, failed_lines = LogSample(), LogSample()
    for candidate in report.candidates:
        if should_stop():
            processed = len(report.disabled) + len(report.failed) + len(report.no_longer_due)
            report.stopped_early = True
            report.skipped_reason = f"stopped on request: {processed} of {len(report.candidates)} due users processed"
            break
        try:
            done = service.disable_one(candidate.user_id, actor=actor)
            session.commit()
        except Exception as exc:  # one user's failure must not stop the others
            session.rollback()
            error = describe_error(exc)
            report.failed.append(FailedUser(candidate.user_id, error))
            if failed_lines.take():
                logger.error(
                    "could not disable user %s: %s",
                    candidate.user_id,
                    error,
                    extra={"event": "user_disable_failed", "user_id": candidate.user_id, "error": error},
                )
            continue
        if done is None:
            report.no_longer_due.append(candidate.user_id)
        else:
            report.disabled.append(candidate.user_id)
            if service.last_event_id is not None:
                _note_event(session, report, candidate.user_id, service.last_event_id)
            if disabled_lines.take():
                logger.info(
                    "user %s disabled after %s days of inactivity",
                    done.user_id,
                    done.days_inactive,
                    extra={"event": "user_disabled", **done.to_dict()},
                )
    report.lines_left_out = disabled_lines.left_out + failed_lines.left_out


def _note_event(session: Session, report: DeactivationReport, user_id: int, event_id: int) -> None:
    """Keep the digest of the committed UPDATE_USER event, so the run record can show later whether it was deleted or edited."""
    try:
        report.disabled_events.append(evidence.disabled_event(session, user_id, event_id))
    except Exception as exc:  # the deactivation stands; the record then names one event fewer, and the log says so
        logger.error("could not read back the event %s of user %s: %s", event_id, user_id, describe_error(exc),
                     extra={"event": "event_digest_failed", "user_id": user_id, "event_id": event_id})
    finally:
        session.rollback()  # end the read: on SQLite a reader keeps the next writer waiting


class _no_lock:  # noqa: N801 (used like the lock's context manager)
    """A dry run's stand-in for the one-run lock: it changes nothing, so it runs beside real runs."""

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


# -- e-mail -------------------------------------------------------------------------


def _notify(
    session: Session,
    config: Mapping[str, Any],
    service: UserDeactivationService,
    report: DeactivationReport,
    *,
    leave_out: tuple[int, ...],
    should_stop: Callable[[], bool],
    keys: EvidenceKeys,
) -> tuple[NotificationReport | None, str | None]:
    """Warnings, notices and the admins' summary after the run, and why the step failed (None when it did not).

    It fails when it could not plan or send at all, or when not one of the
    messages it tried could be sent. A message that fails among others that go
    is recorded FAILED and tried again next run.
    """
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
        mail = notify_after_run(
            NotificationService(session, settings, service, should_stop=should_stop, evidence_keys=keys), report
        )
    except Exception as exc:
        session.rollback()
        error = describe_error(exc)
        logger.error(
            "inactivity e-mail could not be planned or sent: %s",
            error,
            exc_info=True,
            extra={"event": "notifications_error", "error": error},
        )
        return None, f"the e-mail step could not run: {error}"
    if mail is not None and mail.failed and not mail.sent:
        return mail, f"none of the {len(mail.failed)} messages could be sent: {mail.failed[0].error}"
    return mail, None


# -- records and logs ---------------------------------------------------------------


def _record_start(session: Session, report: DeactivationReport, *, started_at: datetime, keys: EvidenceKeys) -> int | None:
    """Write the "running" record; None (logged) if it cannot be written: the end of the run tries again."""
    try:
        return job_runs.record_start(
            session,
            keys=keys,
            dry_run=report.dry_run,
            threshold_days=report.threshold_days,
            max_disable=report.max_disable,
            as_of=report.as_of,
            started_at=started_at,
        )
    except Exception as exc:
        logger.error(
            "could not record the run's start: %s",
            describe_error(exc),
            extra={"event": "run_start_not_written", "error": describe_error(exc)},
        )
        return None


def _record(result: JobResult, write: Any, *args: Any, **kwargs: Any) -> bool:
    """Complete the run's record; return whether it was written (a failure is logged and kept in ``errors``)."""
    try:
        result.run_id = write(*args, **kwargs)
    except Exception as exc:
        logger.error(
            "could not record the run: %s",
            describe_error(exc),
            extra={"event": "run_record_not_written", "error": describe_error(exc)},
        )
        result.errors.append(f"error: the run could not be recorded: {describe_error(exc)}")
        return False
    return True


def _log_summary(report: DeactivationReport) -> None:
    logger.info(
        "disable-inactive-users %s: %s due, %s disabled, %s failed%s",
        report.outcome.value,
        len(report.candidates),
        len(report.disabled),
        len(report.failed),
        f" ({report.skipped_reason})" if report.skipped_reason else "",
        extra={
            "event": "run_summary",
            "outcome": report.outcome.value,
            "dry_run": report.dry_run,
            "as_of": report.as_of.isoformat(),
            "threshold_days": report.threshold_days,
            "candidates": len(report.candidates),
            "disabled": len(report.disabled),
            "no_longer_due": len(report.no_longer_due),
            "failed": len(report.failed),
            "skipped_reason": report.skipped_reason,
            "duration_seconds": report.duration_seconds,
            "reconciled": report.reconciled,
            # Per-user lines beyond the log's sample of each kind.
            "lines_left_out": report.lines_left_out,
        },
    )
