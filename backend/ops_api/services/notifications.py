"""E-mail around a deactivation: warnings before, a notice after, and a summary for the user admins.

What is sent, and to whom:

* **Inactivity warning** (``inactivity_warning``): to every ACTIVE, non-excluded
  user whose ``disable_due`` (``last_seen`` + the threshold) is N days away or
  less, for each N in ``OPS_DEACTIVATION_WARN_DAYS`` (the *stage*, default 7
  and 1). A warning for stage N is due when ``disable_due - N days <= now <
  disable_due``.
* **Deactivation notice** (``deactivation_notice``): to each user the job has
  just disabled, naming the date and whom to ask for reactivation.
* **Summary** (``deactivation_summary``): one message per run that disabled
  anyone, to each ACTIVE holder of the USER_ADMIN role, listing who was
  disabled and when each was last seen.

The inactivity *period* is the user's ``last_seen`` as the rule computes it.
Any activity (a login, a request, a reactivation) moves ``last_seen`` and so
starts a new period; warnings of the old period are then never sent.

At most once: every message is recorded in ``ops_event`` as an
``INACTIVITY_NOTIFICATION`` event whose details name the ``kind``, the
``recipient``, the ``user_id``, the ``period`` and the ``stage``. The event is
written (status ``UNKNOWN``) and committed *before* the message is handed to
the SMTP server, then set to ``SUCCESS`` or ``FAILED``. A ``SUCCESS`` or
``UNKNOWN`` record (the job stopped mid-send) counts as sent and is never
repeated; a ``FAILED`` one is tried again on the next run.

Catch-up: when runs were missed, only the most urgent stage due now is sent
(never 7 and 1 together), and a stage that was skipped is not sent later.

Transactions: :meth:`NotificationService.plan` only reads.
:meth:`NotificationService.send` owns its transactions (a commit before and
after each message) and must be called after the deactivations committed,
so mail can never block or undo one. On PostgreSQL it holds an advisory lock
of its own while sending, so two overlapping runs never send the same message.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ops_api.clock import ensure_utc
from ops_api.models import OpsEvent, OpsEventStatus, OpsEventType, Role, RoleName, User, UserStatus, user_role
from ops_api.services.user_deactivation import (
    DeactivationReport,
    InactiveUser,
    UserDeactivationService,
    describe_error,
)

logger = logging.getLogger(__name__)

EVENT_TYPE = OpsEventType.INACTIVITY_NOTIFICATION
KIND_WARNING = "inactivity_warning"
KIND_NOTICE = "deactivation_notice"
KIND_SUMMARY = "deactivation_summary"
# How long a failed notice or summary is tried again, once a run.
RETRY_WINDOW = timedelta(days=7)
# The advisory lock held while sending (PostgreSQL), one per schema like the run's.
SEND_LOCK_NAMESPACE = 20_260_027
_LOCK_ARGUMENTS = "(:namespace, hashtext(current_schema()))"

# Statuses that count as "this message went out" for the at-most-once rule.
_SENT_STATUSES = (OpsEventStatus.SUCCESS, OpsEventStatus.UNKNOWN)


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server and what the messages say. Built from the settings; never reads Flask globals."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_seconds: float = 10
    sender: str | None = None
    product_name: str = "OPS"
    support_contact: str = "a user administrator"
    warn_days: tuple[int, ...] = (7, 1)

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            starttls=config["SMTP_STARTTLS"],
            timeout_seconds=config["SMTP_TIMEOUT"],
            sender=config["MAIL_SENDER"],
            product_name=config["PRODUCT_NAME"],
            support_contact=config["SUPPORT_CONTACT"],
            warn_days=tuple(config["DEACTIVATION_WARN_DAYS"]),
        )


@dataclass
class Notification:
    """One message: planned, then sent or failed."""

    kind: str
    recipient: str
    recipient_user_id: int | None
    subject: str
    text_body: str
    html_body: str
    user_id: int | None = None  # the user the message is about (None for a summary)
    period: datetime | None = None  # that user's last_seen: the inactivity period
    stage: int | None = None  # days before disable_due (warnings only)
    details: dict[str, Any] = field(default_factory=dict)  # disable_due, disabled_on, users, ...
    status: str = "planned"  # planned, sent, failed
    error: str | None = None
    event_id: int | None = None

    def event_details(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "recipient": self.recipient,
            "recipient_user_id": self.recipient_user_id,
            "user_id": self.user_id,
            "period": self.period.isoformat() if self.period else None,
            "stage": self.stage,
            "subject": self.subject,
            **self.details,
            "error": self.error,
        }

    def to_dict(self) -> dict[str, Any]:
        shown = self.event_details()
        shown["status"] = self.status
        shown["event_id"] = self.event_id
        return shown


@dataclass
class NotificationReport:
    as_of: datetime
    dry_run: bool
    email_enabled: bool
    notifications: list[Notification] = field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def sent(self) -> list[Notification]:
        return [n for n in self.notifications if n.status == "sent"]

    @property
    def failed(self) -> list[Notification]:
        return [n for n in self.notifications if n.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "email_enabled": self.email_enabled,
            "dry_run": self.dry_run,
            "as_of": self.as_of.isoformat(),
            "skipped_reason": self.skipped_reason,
            "sent": len(self.sent),
            "failed": len(self.failed),
            "messages": [n.to_dict() for n in self.notifications],
        }


class NotificationService:
    """Plans and sends the inactivity e-mail. Takes its session, settings and clock explicitly."""

    def __init__(
        self,
        session: Session,
        settings: MailSettings,
        deactivation: UserDeactivationService,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.deactivation = deactivation
        self.clock = clock or deactivation.clock

    # -- planning (reads only) -------------------------------------------------

    def plan(self, *, disabled: Sequence[InactiveUser] = (), now: datetime | None = None) -> list[Notification]:
        """Every message due at ``now``: notices for ``disabled`` and failed ones to retry, the summaries, then warnings."""
        now = self.clock() if now is None else ensure_utc(now)
        recent = self._recent_events(now)
        plan = self._notices(disabled, recent, now)
        plan += self._summaries(disabled, recent, now)
        plan += self._warnings(now)
        return plan

    def _recent_events(self, now: datetime) -> list[OpsEvent]:
        """This job's notices and summaries of the retry window (for retries and the at-most-once check)."""
        return list(
            self.session.scalars(
                select(OpsEvent)
                .where(
                    OpsEvent.event_type == EVENT_TYPE,
                    OpsEvent.created_on > now - RETRY_WINDOW,
                    OpsEvent.event_details["kind"].as_string().in_([KIND_NOTICE, KIND_SUMMARY]),
                )
                .order_by(OpsEvent.created_on, OpsEvent.id)
            )
        )

    def _notices(self, disabled: Sequence[InactiveUser], recent: list[OpsEvent], now: datetime) -> list[Notification]:
        sent: set[tuple[int, str]] = set()
        failed: dict[tuple[int, str], dict[str, Any]] = {}
        for event in recent:
            details = event.event_details or {}
            if details.get("kind") != KIND_NOTICE or details.get("user_id") is None:
                continue
            key = (details["user_id"], details.get("period") or "")
            if event.event_status in _SENT_STATUSES:
                sent.add(key)
            else:
                failed[key] = details
        # (user, period) -> (last_seen, disabled_on, whether it is a retry)
        wanted: dict[tuple[int, str], tuple[datetime, datetime, bool]] = {}
        for user in disabled:
            wanted[(user.user_id, user.last_seen.isoformat())] = (user.last_seen, now, False)
        for key, details in failed.items():
            if key not in wanted and key[1]:
                wanted[key] = (datetime.fromisoformat(key[1]), datetime.fromisoformat(details["disabled_on"]), True)
        wanted = {key: value for key, value in wanted.items() if key not in sent}
        if not wanted:
            return []
        people = self._people({user_id for user_id, _ in wanted})
        plan = []
        for (user_id, _), (last_seen, disabled_on, retry) in sorted(wanted.items(), key=lambda item: (item[1][1], item[0][0])):
            person = people.get(user_id)
            # A retry only while the user is still disabled: a late notice about
            # an account already reactivated would mislead.
            if person is None or not person.email or (retry and person.status is not UserStatus.INACTIVE):
                continue
            context = {
                "user": person,
                "disabled_on": _when(disabled_on),
                "last_seen": _when(last_seen),
                "inactive_days": self.deactivation.inactive_days,
            }
            plan.append(
                self._render(
                    KIND_NOTICE,
                    person,
                    f"{self.settings.product_name}: your account was disabled for inactivity",
                    context,
                    user_id=user_id,
                    period=last_seen,
                    details={"disabled_on": disabled_on.isoformat()},
                )
            )
        return plan

    def _summaries(self, disabled: Sequence[InactiveUser], recent: list[OpsEvent], now: datetime) -> list[Notification]:
        # For each admin, what a failed summary still owes them: the users of
        # FAILED summaries after the last one that went out.
        owed: dict[int, dict[tuple[int, str], dict[str, Any]]] = {}
        for event in recent:
            details = event.event_details or {}
            admin_id = details.get("recipient_user_id")
            if details.get("kind") != KIND_SUMMARY or admin_id is None:
                continue
            if event.event_status in _SENT_STATUSES:
                owed.pop(admin_id, None)
            else:
                for row in details.get("users") or []:
                    owed.setdefault(admin_id, {})[(row["user_id"], row["last_seen"])] = row
        new_rows = {
            (user.user_id, user.last_seen.isoformat()): {
                "user_id": user.user_id,
                "email": user.email,
                "last_seen": user.last_seen.isoformat(),
                "days_inactive": user.days_inactive,
                "disabled_on": now.isoformat(),
            }
            for user in disabled
        }
        if not new_rows and not owed:
            return []
        admins = self._user_admins()
        if not admins and new_rows:
            logger.warning(
                "no ACTIVE user administrator has an e-mail address: the deactivation summary goes to nobody",
                extra={"event": "notification_no_admins"},
            )
        plan = []
        for admin in admins:
            rows = {**owed.get(admin.id, {}), **new_rows}
            if not rows:
                continue
            ordered = sorted(rows.values(), key=lambda row: (row["disabled_on"], row["user_id"]))
            count = len(ordered)
            context = {
                "admin": admin,
                "users": [
                    {**row, "last_seen_text": _when(datetime.fromisoformat(row["last_seen"])),
                     "disabled_on_text": _when(datetime.fromisoformat(row["disabled_on"]))}
                    for row in ordered
                ],
                "count": count,
                "run_at": _when(now),
                "inactive_days": self.deactivation.inactive_days,
            }
            plan.append(
                self._render(
                    KIND_SUMMARY,
                    admin,
                    f"{self.settings.product_name}: {count} account{'' if count == 1 else 's'} disabled for inactivity",
                    context,
                    details={"users": ordered, "run_at": now.isoformat()},
                )
            )
        return plan

    def _warnings(self, now: datetime) -> list[Notification]:
        stages = sorted(self.settings.warn_days)  # most urgent first
        if not stages:
            return []
        threshold = self.deactivation.threshold
        candidates = self.deactivation.find_users_due_within(timedelta(days=max(stages)), now=now)
        due: dict[int, tuple[InactiveUser, int]] = {}
        for candidate in candidates:
            disable_due = candidate.last_seen + threshold
            # The most urgent stage whose moment has come; a skipped one is never sent later.
            stage = next((n for n in stages if now >= disable_due - timedelta(days=n)), None)
            if stage is not None and candidate.email:
                due[candidate.user_id] = (candidate, stage)
        if not due:
            return []
        already = set()
        for details in self.session.scalars(
            select(OpsEvent.event_details).where(
                OpsEvent.event_type == EVENT_TYPE,
                OpsEvent.event_status.in_(_SENT_STATUSES),
                # A period's warnings all come after its start, which is within the threshold of now.
                OpsEvent.created_on > now - threshold,
                OpsEvent.event_details["kind"].as_string() == KIND_WARNING,
                OpsEvent.event_details["user_id"].as_integer().in_(sorted(due)),
            )
        ):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                already.add((details["user_id"], datetime.fromisoformat(details["period"]), details["stage"]))
        todo = {
            user_id: (candidate, stage)
            for user_id, (candidate, stage) in due.items()
            if (user_id, candidate.last_seen, stage) not in already
        }
        if not todo:
            return []
        people = self._people(set(todo))
        plan = []
        for user_id, (candidate, stage) in sorted(todo.items(), key=lambda item: (item[1][0].last_seen, item[0])):
            person = people.get(user_id)
            if person is None or not person.email or person.status is not UserStatus.ACTIVE:
                continue
            disable_due = candidate.last_seen + threshold
            context = {
                "user": person,
                "disable_due": _when(disable_due),
                "last_seen": _when(candidate.last_seen),
                "stage": stage,
                "inactive_days": self.deactivation.inactive_days,
            }
            plan.append(
                self._render(
                    KIND_WARNING,
                    person,
                    f"{self.settings.product_name}: your account will be disabled on {disable_due.day} {disable_due:%B %Y} unless you sign in",
                    context,
                    user_id=user_id,
                    period=candidate.last_seen,
                    stage=stage,
                    details={"disable_due": disable_due.isoformat()},
                )
            )
        return plan

    def _people(self, user_ids: set[int]) -> dict[int, Person]:
        rows = self.session.execute(
            select(User.id, User.email, User.first_name, User.last_name, User.status).where(User.id.in_(sorted(user_ids)))
        )
        return {row.id: Person(row.id, row.email, row.first_name, row.last_name, row.status) for row in rows}

    def _user_admins(self) -> list[Person]:
        rows = self.session.execute(
            select(User.id, User.email, User.first_name, User.last_name)
            .join(user_role, user_role.c.user_id == User.id)
            .join(Role, Role.id == user_role.c.role_id)
            .where(Role.name == RoleName.USER_ADMIN.value, User.status == UserStatus.ACTIVE, User.email != "")
            .order_by(User.id)
        )
        return [Person(row.id, row.email, row.first_name, row.last_name, UserStatus.ACTIVE) for row in rows]

    def _render(
        self,
        kind: str,
        recipient: Person,
        subject: str,
        context: dict[str, Any],
        *,
        user_id: int | None = None,
        period: datetime | None = None,
        stage: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Notification:
        context = {
            **context,
            "product_name": self.settings.product_name,
            "support_contact": self.settings.support_contact,
            "subject": subject,
        }
        environment = _templates()
        return Notification(
            kind=kind,
            recipient=recipient.email or "",
            recipient_user_id=recipient.id,
            subject=subject,
            text_body=environment.get_template(f"{kind}.txt").render(context),
            html_body=environment.get_template(f"{kind}.html").render(context),
            user_id=user_id,
            period=period,
            stage=stage,
            details=details or {},
        )

    # -- sending (owns its transactions) ---------------------------------------

    def run(self, *, disabled: Sequence[InactiveUser] = (), dry_run: bool = False, as_of: datetime | None = None) -> NotificationReport:
        """Plan, and unless ``dry_run`` send, every message due now. Never raises for a mail problem."""
        now = self.clock()
        when = now if as_of is None else ensure_utc(as_of)
        report = NotificationReport(as_of=when, dry_run=dry_run, email_enabled=self.settings.enabled)
        if not dry_run and not self.settings.enabled:
            report.skipped_reason = "e-mail is off (OPS_SMTP_HOST is not set): no warnings or notices were sent"
            logger.info(report.skipped_reason, extra={"event": "email_off"})
            return report
        self.session.rollback()  # start from a clean transaction boundary
        if dry_run:
            report.notifications = self.plan(disabled=disabled, now=when)
            self.session.rollback()
            return report
        with self._send_lock() as acquired:
            if not acquired:
                report.skipped_reason = "skipped: another run is sending e-mail"
                logger.info(report.skipped_reason, extra={"event": "notifications_skipped"})
                return report
            report.notifications = self.plan(disabled=disabled, now=now)
            self.session.rollback()
            self.send(report.notifications)
        _log_summary(report)
        return report

    def send(self, notifications: Sequence[Notification]) -> None:
        """Send each message and record it; a failure is recorded and the rest go on."""
        if not notifications:
            return
        with SmtpTransport(self.settings) as transport:
            for notification in notifications:
                self._send_one(transport, notification)

    def _send_one(self, transport: SmtpTransport, notification: Notification) -> None:
        at = self.clock()
        # Recorded before it leaves: should the job die mid-send, the UNKNOWN
        # record still stops a second copy.
        event = OpsEvent(
            event_type=EVENT_TYPE,
            event_status=OpsEventStatus.UNKNOWN,
            event_details=notification.event_details(),
            created_on=at,
            updated_on=at,
        )
        self.session.add(event)
        self.session.commit()
        notification.event_id = event.id
        try:
            transport.send(self._message(notification, at))
        except Exception as exc:  # any failure of this message: record it, go on with the rest
            notification.status, notification.error = "failed", describe_error(exc)
            logger.error(
                "could not send %s to %s: %s",
                notification.kind,
                notification.recipient,
                notification.error,
                extra={"event": "notification_failed", **notification.to_dict()},
            )
        else:
            notification.status = "sent"
            logger.info(
                "sent %s to %s",
                notification.kind,
                notification.recipient,
                extra={"event": "notification_sent", **notification.to_dict()},
            )
        event.event_status = OpsEventStatus.SUCCESS if notification.status == "sent" else OpsEventStatus.FAILED
        event.event_details = notification.event_details()
        event.updated_on = self.clock()
        self.session.commit()

    def _message(self, notification: Notification, at: datetime) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = self.settings.sender or ""
        message["To"] = notification.recipient
        message["Date"] = format_datetime(at)
        domain = parseaddr(self.settings.sender or "")[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(notification.text_body)
        message.add_alternative(notification.html_body, subtype="html")
        return message

    @contextlib.contextmanager
    def _send_lock(self) -> Iterator[bool]:
        engine = self.session.get_bind()
        if engine.dialect.name != "postgresql":
            yield True
            return
        with engine.connect() as connection:
            parameters = {"namespace": SEND_LOCK_NAMESPACE}
            acquired = connection.execute(text(f"SELECT pg_try_advisory_lock{_LOCK_ARGUMENTS}"), parameters).scalar()
            connection.commit()
            try:
                yield bool(acquired)
            finally:
                if acquired:
                    with contextlib.suppress(Exception):
                        connection.execute(text(f"SELECT pg_advisory_unlock{_LOCK_ARGUMENTS}"), parameters)
                        connection.commit()


@dataclass(frozen=True)
class Person:
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    status: UserStatus = UserStatus.ACTIVE

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or (self.email or "")


class SmtpTransport:
    """One SMTP connection for a run's messages, opened at the first message.

    A refusal of one message (a recipient or its content refused) leaves the
    connection usable for the next. A failure of the connection itself (no
    answer, refused, dropped, TLS or login failure) fails the remaining
    messages at once with the same error, so a dead server costs one timeout
    per run, not one per message.
    """

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._broken: Exception | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(Exception):
                self._smtp.quit()
            with contextlib.suppress(Exception):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage) -> None:
        if self._broken is not None:
            raise ConnectionError(f"not sent: the SMTP server failed earlier in this run ({describe_error(self._broken)})")
        try:
            smtp = self._connection()
            smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            raise  # this message was refused; the connection is still good
        except Exception as exc:
            self._broken = exc
            raise

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.host or "", settings.port, timeout=settings.timeout_seconds)
            try:
                smtp.ehlo()
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if settings.username is not None:
                    smtp.login(settings.username, settings.password or "")
            except Exception:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._smtp = smtp
        return self._smtp


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("ops_api", "templates/email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _when(value: datetime) -> str:
    """A moment as the messages show it: ``Monday 4 January 2027, 14:00 UTC``."""
    value = ensure_utc(value)
    return f"{value:%A} {value.day} {value:%B %Y, %H:%M} UTC"


def _log_summary(report: NotificationReport) -> None:
    logger.info(
        "inactivity e-mail: %s sent, %s failed",
        len(report.sent),
        len(report.failed),
        extra={
            "event": "notifications_summary",
            "sent": len(report.sent),
            "failed": len(report.failed),
            "by_kind": {
                kind: sum(1 for n in report.notifications if n.kind == kind)
                for kind in (KIND_NOTICE, KIND_SUMMARY, KIND_WARNING)
            },
        },
    )


def notify_after_run(service: NotificationService, report: DeactivationReport) -> NotificationReport | None:
    """The e-mail that follows a run of the job: notices for whom it disabled, the summary, the warnings.

    None for a run skipped because another run holds the lock (that run sends).
    A dry run only lists what it would send, for the users it would disable.
    Call it after the run: the deactivations are committed by then.
    """
    if report.skipped_by_lock:
        return None
    if report.dry_run:
        disabled = [] if report.refused_by_cap else list(report.candidates)
        return service.run(disabled=disabled, dry_run=True, as_of=report.as_of)
    done = set(report.disabled)
    return service.run(disabled=[c for c in report.candidates if c.user_id in done])
