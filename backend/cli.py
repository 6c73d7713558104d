"""Thin Flask CLI commands: parse options, call one service, render the result.

``create_cli_app`` (FLASK_APP) builds the app and registers them on ``app.cli``;
run them as ``flask <command>``. The ``ops_api`` package never imports this
module: it is the entry point, and only entry points import it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ops_api.adapters.signals import stop_requested_by_signal
from ops_api.api.openapi import spec as openapi_description
from ops_api.clock import utcnow
from ops_api.config import JOB_CLOCK_PROCESS, MAX_DEACTIVATION_MAX_PER_RUN, describe_environment, is_development_environment
from ops_api.devtools.demo_data import seed_demo
from ops_api.devtools.load_data import LoadError, load
from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS, DEFAULT_MAX_DISABLE, MAX_INACTIVE_DAYS
from ops_api.errors import describe_error
from ops_api.extensions import db
from ops_api.instants import parse_iso
from ops_api.job_logging import configure_job_logging
from ops_api.services.evidence import keys_from_config as evidence_keys
from ops_api.services.job import job_runs
from ops_api.services.job.hourly_job import (
    EXIT_FAILED,
    EXIT_MAIL_FAILED,
    EXIT_OK,
    EXIT_REFUSED_BY_CAP,
    EXIT_USAGE,
    JobEnvironmentError,
    JobOptions,
    JobOptionsError,
    JobResult,
    run_hourly_job,
)
from ops_api.services.job.hourly_job import check_database as check_database_at
from ops_api.services.job.job_database import DatabaseClock, restore_triggers
from ops_api.services.mail.notifications import NotificationReport
from ops_api.services.report.deactivation_report import ReportRangeError, build_report, check_range, parse_bound
from ops_api.services.report.report_html import project_version, render_evidence_page
from ops_api.services.users.user_deactivation import DeactivationReport, UserDeactivationService, check_as_of

logger = logging.getLogger("ops_api.cli")
T = TypeVar("T")

# Bounds of the bulk loader's options: beyond them a run would only exhaust memory or overflow SQL integers.
MAX_LOAD_USERS = 10_000_000
MAX_LOAD_SESSIONS_PER_USER = 1_000

def create_cli_app() -> Flask:
    """The app for the ``flask`` command (FLASK_APP): a bad setting is one line on stderr and exit 1."""
    from ops_api import create_app
    from ops_api.config import ConfigError

    try:
        app = create_app()
        register_commands(app)
        return app
    except ConfigError as exc:
        click.echo(f"error: configuration: {exc}", err=True)
    except Exception as exc:  # never a traceback: what failed, in one line
        first_line = (str(exc).strip().splitlines() or [""])[0]
        click.echo(f"error: the application could not start: {type(exc).__name__}: {first_line}", err=True)
    raise SystemExit(EXIT_FAILED)


def register_commands(app: Flask) -> None:
    app.cli.add_command(restore_triggers_command)
    app.cli.add_command(disable_inactive_users_command)
    app.cli.add_command(disable_inactive_users_health_command)
    app.cli.add_command(inactive_users_report_command)
    app.cli.add_command(openapi_command)
    if is_development_environment(app.config):
        app.cli.add_command(seed_demo_command)
        app.cli.add_command(seed_load_command)
    else:
        # Not even their options are read: whatever follows, one line and exit 1.
        for name in (seed_demo_command.name, seed_load_command.name):
            app.cli.add_command(_refused_development_command(name))


def _development_only_message(command: str) -> str:
    return (
        f"error: {command} is a development command (demo data, bulk loads that can empty the audit tables); "
        f"refused because {describe_environment(current_app.config)}"
    )


def _refused_development_command(name: str | None) -> click.Command:
    @with_appcontext
    def refuse(args: tuple[str, ...] = ()) -> None:
        click.echo(_development_only_message(str(name)), err=True)
        raise SystemExit(EXIT_FAILED)

    return click.Command(
        name,
        callback=refuse,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
        hidden=True,
        help="A development command; refused in this environment.",
    )


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line on stderr (exit code 2)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class OneLineUsageCommand(click.Command):
    """A command whose usage errors take one line, not the usage block."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc.format_message(), ctx=exc.ctx) from None


class IsoInstant(click.ParamType):
    name = "ISO-8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = parse_iso(value)
            except ValueError:
                self.fail(f"{value!r} is not an ISO-8601 date or instant (e.g. 2026-12-31T09:00:00Z)", param, ctx)
        # A date or time without an offset is read as UTC, like every time here.
        try:
            return check_as_of(parsed)
        except (ValueError, OverflowError) as exc:
            self.fail(str(exc), param, ctx)


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return job_runs.parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def check_database() -> None:
    """The app's database answers, holds OPS's users and is migrated; else JobEnvironmentError."""
    check_database_at(db.engine, current_app.extensions["migrate"].directory)


def refuse_outside_development(command: str) -> None:
    """Stop a development command unless OPS_ENV_NAME names a development environment.

    register_commands already puts a refusal in these commands' place outside
    development; this second check covers an app whose settings changed since.
    """
    if not is_development_environment(current_app.config):
        click.echo(_development_only_message(command), err=True)
        raise SystemExit(EXIT_FAILED)


@click.command("restore-triggers", cls=OneLineUsageCommand)
@with_appcontext
def restore_triggers_command() -> None:
    """Create again the triggers that keep this project's view of each user, then reconcile the view.

    For a database where a run refused because one was lost (OPS made a table
    again) or disabled. Safe to repeat. Needs what `flask db upgrade` needs.
    """
    try:
        check_database_at(db.engine, current_app.extensions["migrate"].directory, triggers=False)
        restored = restore_triggers(db.engine)
        counts = UserDeactivationService.from_config(db.session(), current_app.config).reconcile_view(utcnow())
    except JobEnvironmentError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except Exception as exc:
        click.echo(f"error: the triggers could not be restored: {describe_error(exc)}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    click.echo(f"restore-triggers: {restored} triggers in place; the view reconciled ({json.dumps(counts)})")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo roles and users (idempotent). Run `flask db upgrade` first. Development environments only."""
    refuse_outside_development("seed-demo")
    added = seed_demo(db.session(), now=utcnow())
    db.session.commit()
    click.echo(f"seed-demo: {added} users added")


@click.command("seed-load", cls=OneLineUsageCommand)
@click.option("--users", type=click.IntRange(min=1, max=MAX_LOAD_USERS), required=True, help="How many users to make.")
@click.option(
    "--sessions-per-user", type=click.IntRange(min=0, max=MAX_LOAD_SESSIONS_PER_USER), default=10, show_default=True,
    help="Sessions of each user who ever logged in.",
)
@click.option(
    "--seed", type=click.IntRange(min=-(2**31), max=2**31 - 1), default=1, show_default=True,
    help="The same seed (and --as-of) gives the same data.",
)
@click.option(
    "--due", type=click.IntRange(min=0, max=MAX_LOAD_USERS), default=None,
    help="Steady state with exactly this many ACTIVE users due (0: nobody); default: the realistic spread.",
)
@click.option("--as-of", "as_of", type=IsoInstant(), default=None, help="The UTC instant the data is relative to [default: now].")
@click.option("--replace", is_flag=True, help="Empty the user, session, role, event and history tables first.")
@with_appcontext
def seed_load_command(users: int, sessions_per_user: int, seed: int, due: int | None, as_of: datetime | None, replace: bool) -> None:
    """Bulk-load many users and sessions for benchmarks (no audit rows). Run `flask db upgrade` first. Development environments only."""
    refuse_outside_development("seed-load")
    try:
        check_database()
        summary = load(
            db.engine, users=users, sessions_per_user=sessions_per_user, seed=seed,
            now=as_of or utcnow(), due=due, replace=replace,
        )
    except (JobEnvironmentError, LoadError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    click.echo(json.dumps(summary.to_dict()))


@click.command(
    "disable-inactive-users",
    cls=OneLineUsageCommand,
    epilog=(
        "\b\nExit codes:\n"
        f"  {EXIT_OK}  success: users disabled, nobody due, a dry run, or skipped because another run holds the lock\n"
        f"  {EXIT_FAILED}  failure: a user could not be disabled, the run was stopped, or it could not run"
        " (settings, database, schema, clocks that disagree)\n"
        f"  {EXIT_USAGE}  usage error: a bad option; nothing was changed\n"
        f"  {EXIT_REFUSED_BY_CAP}  refused by the safety cap: more users due than --max-disable; nobody was disabled\n"
        f"  {EXIT_MAIL_FAILED}  the deactivations were done, but the e-mail step failed (warnings and notices are owed)"
    ),
)
@click.option(
    "--days", type=click.IntRange(min=1, max=MAX_INACTIVE_DAYS), default=None,
    help=f"Inactivity threshold in days [default: OPS_DEACTIVATION_INACTIVE_DAYS, {DEFAULT_INACTIVE_DAYS}].",
)
@click.option("--dry-run", is_flag=True, help="Report who is due; change nothing.")
@click.option(
    "--as-of", "as_of", type=IsoInstant(), default=None,
    help="With --dry-run: preview who would be due at this UTC date or instant.",
)
@click.option(
    "--max-disable", type=click.IntRange(min=0, max=MAX_DEACTIVATION_MAX_PER_RUN), default=None,
    help=f"Safety cap for this run; 0 lifts it [default: OPS_DEACTIVATION_MAX_PER_RUN, {DEFAULT_MAX_DISABLE}].",
)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Report on stdout as text or one JSON document.",
)
@click.option("--no-email", "no_email", is_flag=True, help="Send no warnings, notices or summaries in this run.")
@with_appcontext
def disable_inactive_users_command(
    days: int | None, dry_run: bool, as_of: datetime | None, max_disable: int | None, output_format: str,
    no_email: bool = False,
) -> None:
    """Disable ACTIVE accounts with no activity for the threshold (NIST SP 800-53 AC-2(3)).

    Each account is disabled as a System Admin would: status INACTIVE, sessions
    ended, an UPDATE_USER event and ops_db_history rows. Logs go to stderr as
    JSON lines; the report goes to stdout.
    """
    try:
        options = JobOptions(days=days, dry_run=dry_run, as_of=as_of, max_disable=max_disable, send_email=not no_email)
    except JobOptionsError as exc:
        raise OneLineUsageError(str(exc)) from None
    configure_job_logging()
    # "now" is the database server's, checked against this process's clock; a
    # development environment may use this process's own (tests freeze it).
    clock = utcnow if current_app.config["JOB_CLOCK"] == JOB_CLOCK_PROCESS else DatabaseClock(db.engine)
    with stop_requested_by_signal() as stop:
        result = run_hourly_job(
            db.session(),
            current_app.config,
            options=options,
            migrations_directory=current_app.extensions["migrate"].directory,
            clock=clock,
            process_clock=utcnow,
            should_stop=stop.is_set,
        )
    render_job_result(result, output_format)
    raise SystemExit(result.exit_code)


def render_job_result(result: JobResult, output_format: str) -> None:
    """The run's report on stdout (text or JSON), its one-line errors on stderr."""
    for line in result.errors:
        click.echo(line, err=True)
    if result.mail_error is not None:
        click.echo(f"error: {result.mail_error}", err=True)
    report, mail = result.report, result.mail
    if report is None:
        return
    if output_format == "json":
        document = report.to_dict()
        if mail is not None and (mail.dry_run or mail.email_enabled):
            document["notifications"] = mail.to_dict()
        if result.warnings_left_out:
            document["warnings_left_out"] = list(result.warnings_left_out)
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_text(report))
        if result.warnings_left_out:
            stages = ", ".join(f"{stage}-day" for stage in result.warnings_left_out)
            click.echo(
                f"No {stages} warnings in this run: the threshold ({report.threshold_days} days) is not longer than them."
            )
        if mail is not None:
            click.echo(render_notifications_text(mail))


def read_or_exit(what: str, read: Callable[[], T]) -> T:
    """Check the database, then ``read()``; on failure say so in one line and exit 1."""
    try:
        check_database()
        return read()
    except JobEnvironmentError as exc:
        click.echo(f"error: {exc}", err=True)
    except Exception as exc:
        click.echo(f"error: cannot read {what}: {describe_error(exc)}", err=True)
    raise SystemExit(EXIT_FAILED)


@click.command(
    "disable-inactive-users-health",
    cls=OneLineUsageCommand,
    epilog=(
        "\b\nExit codes:\n"
        f"  {EXIT_OK}  healthy: the last successful real run finished within --max-age\n"
        f"  {EXIT_FAILED}  unhealthy: it is older, there has never been one, or the database cannot be asked\n"
        f"  {EXIT_USAGE}  usage error: a bad option"
    ),
)
@click.option(
    "--max-age",
    type=Duration(),
    default=job_runs.DEFAULT_MAX_AGE_TEXT,
    show_default=True,
    help="How old the last successful real run may be: 90m, 2h, 1d.",
)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="One line of text, or one JSON document.",
)
@with_appcontext
def disable_inactive_users_health_command(max_age: timedelta, output_format: str) -> None:
    """Report when disable-inactive-users last completed a real run (dry and skipped runs do not count).

    Exits non-zero when that is longer ago than --max-age, or never happened,
    so a check that runs it notices a job that stopped being scheduled.
    """
    health = read_or_exit(
        "the run history",
        lambda: job_runs.job_health(
            db.session(), max_age=max_age, now=utcnow(), keys=evidence_keys(current_app.config)
        ),
    )
    if output_format == "json":
        click.echo(json.dumps(health.to_dict(), indent=2))
    else:
        click.echo(health.describe())
    raise SystemExit(EXIT_OK if health.healthy else EXIT_FAILED)


@click.command("openapi")
@click.option(
    "--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
    help="The file to write (- for standard output).",
)
def openapi_command(output: Any) -> None:
    """Write the OpenAPI description the API serves at /api/v1/openapi.json (for linters and client generators)."""
    output.write(json.dumps(openapi_description(), indent=2) + "\n")


class ReportBound(click.ParamType):
    """A date (``2026-03-01``) or an ISO 8601 instant; a date alone for --to means the end of that day."""

    name = "DATE"

    def __init__(self, *, end: bool) -> None:
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_bound(value, end=self.end)
        except ReportRangeError as exc:
            self.fail(str(exc), param, ctx)
        except (OverflowError, ValueError):  # a bound the calendar cannot hold, e.g. the day after 9999-12-31
            self.fail(f"{value!r} is beyond the dates this report can cover", param, ctx)


@click.command(
    "inactive-users-report",
    cls=OneLineUsageCommand,
    epilog=(
        "\b\nExit codes:\n"
        f"  {EXIT_OK}  the report was written\n"
        f"  {EXIT_FAILED}  the database could not be read\n"
        f"  {EXIT_USAGE}  usage error: a bad or missing date, a period that is empty or longer than a year, or an --as-of in the future"
    ),
)
@click.option("--from", "start", type=ReportBound(end=False), required=True, help="First day (or UTC instant) of the period.")
@click.option(
    "--to", "end", type=ReportBound(end=True), required=True,
    help="Last day of the period, included (or an exclusive UTC instant).",
)
@click.option(
    "--format", "output_format", type=click.Choice(["csv", "json", "html"]), default="csv", show_default=True,
    help="One CSV table, one JSON document, or one self-contained HTML page for an assessor.",
)
@click.option(
    "--as-of", "as_of", type=ReportBound(end=False), default=None,
    help="Report as of this past UTC instant (default now): events and hours after it are left out. "
    "Give an HTML page's generated-at time to recompute the JSON its digest was taken of.",
)
@with_appcontext
def inactive_users_report_command(start: datetime, end: datetime, output_format: str, as_of: datetime | None) -> None:
    """AC-2(3) evidence: every deactivation in the period (automatic and manual), every run, and the hours without one."""
    now = utcnow()
    try:
        check_range(start, end)
    except ReportRangeError as exc:
        raise OneLineUsageError(str(exc)) from None
    if as_of is not None and as_of > now:
        raise OneLineUsageError("--as-of must not be in the future")
    evidence = read_or_exit(
        "the deactivation history",
        lambda: build_report(
            db.session(), start=start, end=end, now=as_of or now,
            threshold_days=current_app.config["DEACTIVATION_INACTIVE_DAYS"],
            keys=evidence_keys(current_app.config),
        ),
    )
    if output_format == "json":
        click.echo(evidence.to_json(), nl=False)
    elif output_format == "html":
        click.echo(render_evidence_page(evidence, environment=current_app.config["ENV_NAME"], version=project_version()), nl=False)
    else:
        click.echo(evidence.to_csv(), nl=False)


def render_notifications_text(mail: NotificationReport) -> str:
    """What the run's e-mail step did (or, in a dry run, would do)."""
    if mail.skipped_reason:
        return mail.skipped_reason
    verb = "would send" if mail.dry_run else "sent"
    lines = []
    if mail.dry_run and not mail.email_enabled:
        lines.append("E-mail is off (OPS_SMTP_HOST is not set); with it on, this run would send:")
    if not mail.notifications:
        lines.append("E-mail: nothing would be sent." if mail.dry_run else "E-mail: nothing to send.")
        return "\n".join(lines)
    lines.append(f"E-mail ({len(mail.notifications)} messages):")
    for n in mail.notifications:
        stage = f" ({n.stage}-day warning)" if n.stage is not None else ""
        status = verb if mail.dry_run or n.status == "sent" else f"FAILED: {n.error}"
        lines.append(f"  {n.kind}{stage} to {n.recipient}: {status}")
    if not mail.dry_run:
        lines.append(f"Sent {len(mail.sent)}, failed {len(mail.failed)} (failed messages are tried again next run).")
    return "\n".join(lines)


def render_text(report: DeactivationReport) -> str:
    """A readable summary for a person at a terminal."""
    mode = "dry run, nothing changed" if report.dry_run else "real run"
    lines = [f"disable-inactive-users as of {report.as_of.isoformat()} (threshold {report.threshold_days} days; {mode})"]
    if report.skipped_by_lock:
        return "\n".join([*lines, report.skipped_reason or "skipped"])
    failed = {f.user_id: f.error for f in report.failed}
    disabled = set(report.disabled)
    no_longer_due = set(report.no_longer_due)
    if report.candidates:
        lines.append(f"{len(report.candidates)} users inactive for {report.threshold_days} days or more:")
        for c in report.candidates:
            if c.user_id in disabled:
                action = "disabled"
            elif c.user_id in failed:
                action = f"FAILED: {failed[c.user_id]}"
            elif c.user_id in no_longer_due:
                action = "left alone: active again"
            elif report.dry_run:
                action = "would be disabled"
            else:
                action = "not disabled"
            lines.append(
                f"  {c.user_id:>6}  {c.email or '(no email)':<40} last seen {c.last_seen:%Y-%m-%d %H:%M}Z"
                f"  {c.days_inactive:>4} days  {action}"
            )
    else:
        lines.append("Nobody is due.")
    if report.skipped_reason:
        lines.append(report.skipped_reason)
    if not report.dry_run:
        lines.append(f"Disabled {len(report.disabled)}, failed {len(report.failed)}, left alone {len(report.no_longer_due)}.")
    return "\n".join(lines)
