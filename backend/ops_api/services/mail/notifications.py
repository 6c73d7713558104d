"""E-mail around a deactivation: warnings before, a notice after, and a summary for the user admins.

What is sent, and to whom:

* **Inactivity warning** (``inactivity_warning``): to every ACTIVE, non-excluded
  user whose ``disable_due`` (``last_seen`` + the threshold) is N days away or
  less, for each N in ``OPS_DEACTIVATION_WARN_DAYS`` (the *stage*, default 7
  and 1). A warning for stage N is due when ``disable_due - N days <= now <
  disable_due``.
* **Deactivation notice** (``deactivation_notice``): to each user the job has
  just disabled, naming the date and whom to ask for reactivation; and, from
  the job's next run, to each user an administrator made INACTIVE (an
  ``UPDATE_USER`` event to INACTIVE in the retry window that the job, acting as
  the System Admin, did not write), unless the user is ACTIVE again by then.
  The API never sends mail: only the job talks to the SMTP server. The notice
  of an administrator's deactivation names its event
  (``deactivation_event_id`` in the record's details) and has no period.
* **Summary** (``deactivation_summary``): one message per run that disabled
  anyone, to each ACTIVE holder of the USER_ADMIN role, listing who was
  disabled and when each was last seen.

The inactivity *period* is the user's ``last_seen`` as the rule computes it.
Any activity (a login, a request, a reactivation) moves ``last_seen`` and so
starts a new period; warnings of the old period are then never sent.

At most once: every message is recorded in this project's ``email_record``
(:class:`ops_api.models.EmailRecord`), naming the ``kind``, the ``recipient``,
the ``user_id``, the ``period`` and the ``stage``. The record is written
(status ``UNKNOWN``) and committed *before* the message is handed to the SMTP
server, then set to ``SUCCESS`` or ``FAILED``. A ``SUCCESS`` or
``UNKNOWN`` record (the job stopped mid-send) counts as sent and is never
repeated; a ``FAILED`` one is tried again on the next run.

Catch-up: when runs were missed, only the most urgent stage due now is sent
(never 7 and 1 together), and a stage that was skipped is not sent later.

Transactions: :meth:`NotificationService.plan` only reads.
:meth:`NotificationService.send` owns its transactions (a commit before and
after each message) and must be called after the deactivations committed,
so mail can never block or undo one. On PostgreSQL it holds an advisory lock
of its own while sending, so two overlapping runs never send the same message.

Layers: the decisions (which stage is due, what was sent, what is owed) are
plain functions in :mod:`ops_api.domain.notification_policy`; the templates
are rendered by :mod:`ops_api.services.mail.mail_templates`; messages leave through
the SMTP adapter :mod:`ops_api.adapters.smtp_mail`. This module reads the
database, calls them, and records each message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session, aliased

from ops_api.adapters.smtp_mail import MailSettings, SmtpTransport, compose
from ops_api.advisory_lock import LockPurpose, try_advisory_lock
from ops_api.clock import ensure_utc
from ops_api.domain import notification_policy as policy
from ops_api.domain.defaults import NOTICE_RETRY_WINDOW, SYSTEM_ADMIN_OIDC_ID
from ops_api.domain.evidence_chain import UNSIGNED, EvidenceKeys
from ops_api.domain.inactivity import InactiveUser
from ops_api.domain.notification_policy import KIND_NOTICE, KIND_SUMMARY, KIND_WARNING, PastMessage
from ops_api.errors import describe_error
from ops_api.job_logging import LogSample
from ops_api.models import (
    EmailRecord,
    OpsEvent,
    OpsEventType,
    RecordStatus,
    Role,
    RoleName,
    User,
    UserActivity,
    UserStatus,
    user_role,
)
from ops_api.services import evidence
from ops_api.services.mail.mail_templates import render
from ops_api.services.mail.mail_templates import when as _when
from ops_api.services.users.user_deactivation import DeactivationReport
from ops_api.sql import batched
from ops_api.transactions import require_no_pending_work

logger = logging.getLogger(__name__)

__all__ = [
    "KIND_NOTICE",
    "KIND_SUMMARY",
    "KIND_WARNING",
    "MailSettings",
    "Notification",
    "NotificationReport",
    "NotificationService",
    "Person",
    "SmtpTransport",
    "WarningCandidates",
    "notify_after_run",
]

# Statuses that count as "this message went out" for the at-most-once rule.
SENT_STATUSES = (RecordStatus.SUCCESS, RecordStatus.UNKNOWN)
# Users per statement when many are asked about at once (PostgreSQL takes at most 65,535 parameters).


class WarningCandidates(Protocol):
    """What the e-mail needs from the rule: its threshold, its clock, and who falls due soon.

    :class:`~ops_api.services.users.user_deactivation.UserDeactivationService` is one.
    """

    inactive_days: int

    def clock(self) -> datetime: ...

    def find_users_due_within(self, within: timedelta, *, now: datetime | None = None) -> list[InactiveUser]: ...


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
    record_id: int | None = None

    def record_details(self) -> dict[str, Any]:
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
        shown = self.record_details()
        shown["status"] = self.status
        shown["record_id"] = self.record_id
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
    """Plans and sends the inactivity e-mail. Takes its session, settings, rule and clock explicitly."""

    def __init__(
        self,
        session: Session,
        settings: MailSettings,
        rule: WarningCandidates,
        *,
        clock: Callable[[], datetime] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        evidence_keys: EvidenceKeys = UNSIGNED,
    ) -> None:
        self.session = session
        # Seals each e-mail record in the evidence chain (OPS_EVIDENCE_KEY); unsigned in development without one.
        self.evidence_keys = evidence_keys
        self.settings = settings
        self.rule = rule
        self.inactive_days = rule.inactive_days
        self.threshold = timedelta(days=rule.inactive_days)
        self.clock = clock or rule.clock
        # Polled between messages: a stop request ends the sending, never a message half-recorded.
        self.should_stop = should_stop

    # -- planning (reads only) -------------------------------------------------

    def plan(self, *, disabled: Sequence[InactiveUser] = (), now: datetime | None = None) -> list[Notification]:
        """Every message due at ``now``: notices for ``disabled`` and failed ones to retry, the summaries, then warnings."""
        now = self.clock() if now is None else ensure_utc(now)
        just_disabled = list(disabled)
        recent = self._recent_messages(now)
        plan = self._notices(just_disabled, recent, now)
        plan += self._summaries(just_disabled, recent, now)
        plan += self._warnings(now)
        return plan

    def _recent_messages(self, now: datetime) -> list[PastMessage]:
        """This job's notices and summaries of the retry window, in the order recorded."""
        records = self.session.scalars(
            select(EmailRecord)
            .where(EmailRecord.kind.in_([KIND_NOTICE, KIND_SUMMARY]), EmailRecord.created_on > now - NOTICE_RETRY_WINDOW)
            .order_by(EmailRecord.created_on, EmailRecord.id)
        )
        return [PastMessage(details_of(record), record.status in SENT_STATUSES) for record in records]

    def _notices(self, disabled: Sequence[InactiveUser], recent: list[PastMessage], now: datetime) -> list[Notification]:
        owed = policy.notices_owed(disabled, recent, now) + self._admin_notices_owed(recent, now)
        if not owed:
            return []
        owed.sort(key=lambda notice: (notice.disabled_on, notice.user_id))
        people = self._people({notice.user_id for notice in owed})
        plan = []
        for notice in owed:
            person = people.get(notice.user_id)
            # A retry (and any notice of an administrator's deactivation, which
            # comes a run later) only while the user is still disabled: a late
            # notice about an account already reactivated would mislead.
            still_owed = person is not None and (
                person.status is UserStatus.INACTIVE or not (notice.retry or notice.by_administrator)
            )
            if person is None or not person.email or not still_owed:
                continue
            plan.append(self._render_notice(notice, person))
        return plan

    def _admin_notices_owed(self, recent: list[PastMessage], now: datetime) -> list[policy.OwedNotice]:
        """Notices owed for deactivations by an administrator (through the API, or OPS itself) of the retry window."""
        deactivations = self._admin_deactivations(now)
        if not deactivations:
            return []
        return policy.admin_notices_owed(
            deactivations,
            recent,
            self._reactivated_on({d.user_id for d in deactivations}),
            now,
            window=NOTICE_RETRY_WINDOW,
        )

    def _admin_deactivations(self, now: datetime) -> list[policy.AdminDeactivation]:
        """The UPDATE_USER events of the retry window that made a user INACTIVE and that the job did not write.

        The job acts as the System Admin: an event created by it is the job's.
        An event whose key is lower than that of an event older than the
        window is taken as older too (OPS numbers its events as it adds them).
        The details are read in Python, so a damaged event is passed over
        instead of failing the step (SQLite keeps JSON as text).
        """
        since = now - NOTICE_RETRY_WINDOW
        # ops_event has no index but its key, and OPS adds its events in the order of their key: the
        # newest event older than the window, found walking the key backwards, bounds the read to the
        # window's own events. Asked first, as a value, so the planner knows how narrow the range is.
        floor = self.session.scalar(
            select(OpsEvent.id).where(OpsEvent.created_on <= since).order_by(OpsEvent.id.desc()).limit(1)
        )
        creator = aliased(User)
        rows: Sequence[Any] = self.session.execute(
            select(OpsEvent.id, OpsEvent.created_on, cast(OpsEvent.event_details, Text), creator.oidc_id)
            .outerjoin(creator, creator.id == OpsEvent.created_by)
            .where(
                OpsEvent.id > (floor if floor is not None else 0),
                OpsEvent.event_type == OpsEventType.UPDATE_USER,
                OpsEvent.created_on > since,
                OpsEvent.created_on <= now,
            )
            .order_by(OpsEvent.created_on, OpsEvent.id)
        ).all()
        found = []
        for event_id, at, stored, creator_oidc in rows:
            try:
                details = json.loads(stored) if stored is not None else None
            except ValueError:
                continue
            deactivation = policy.admin_deactivation(
                event_id, at, details, by_the_job=creator_oidc == SYSTEM_ADMIN_OIDC_ID
            )
            if deactivation is not None:
                found.append(deactivation)
        return found

    def _reactivated_on(self, user_ids: set[int]) -> dict[int, datetime | None]:
        """When each user was last made ACTIVE again, as this project's view of them holds it."""
        moments: dict[int, datetime | None] = {}
        for batch in batched(sorted(user_ids)):
            rows = self.session.execute(
                select(UserActivity.user_id, UserActivity.reactivated_on).where(UserActivity.user_id.in_(batch))
            )
            moments.update((row.user_id, row.reactivated_on) for row in rows)
        return moments

    def _render_notice(self, notice: policy.OwedNotice, person: Person) -> Notification:
        """A deactivation notice: "for inactivity" when the job disabled the user, "by an administrator" otherwise."""
        context = {
            "user": person,
            "disabled_on": _when(notice.disabled_on),
            "by_administrator": notice.by_administrator,
            "last_seen": _when(notice.last_seen) if notice.last_seen is not None else None,
            "inactive_days": self.inactive_days,
        }
        details: dict[str, Any] = {"disabled_on": notice.disabled_on.isoformat()}
        if notice.event_id is not None:
            details[policy.EVENT_KEY] = notice.event_id
        cause = "by an administrator" if notice.by_administrator else "for inactivity"
        return self._render(
            KIND_NOTICE,
            person,
            f"{self.settings.product_name}: your account was disabled {cause}",
            context,
            user_id=notice.user_id,
            period=notice.last_seen,
            details=details,
        )

    def _summaries(self, disabled: Sequence[InactiveUser], recent: list[PastMessage], now: datetime) -> list[Notification]:
        owed = policy.summary_rows_owed(recent)
        new_rows = policy.summary_rows(disabled, now)
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
            ordered = policy.summary_for(admin.id, new_rows, owed)
            if not ordered:
                continue
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
                "inactive_days": self.inactive_days,
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
        stages = self.settings.warn_days
        if not stages:
            return []
        candidates = self.rule.find_users_due_within(timedelta(days=max(stages)), now=now)
        due = policy.warnings_due(
            ((c.user_id, c.last_seen) for c in candidates if c.email), now, threshold=self.threshold, stages=stages
        )
        if not due:
            return []
        due_ids = sorted(due)
        sent = set()
        for batch in batched(due_ids):
            records = self.session.scalars(
                select(EmailRecord).where(
                    EmailRecord.kind == KIND_WARNING,
                    EmailRecord.status.in_(SENT_STATUSES),
                    # A period's warnings all come after its start, which is within the threshold of now.
                    EmailRecord.created_on > now - self.threshold,
                    EmailRecord.user_id.in_(batch),
                )
            )
            sent |= policy.sent_warning_keys(details_of(record) for record in records)
        owed = policy.warnings_owed(due, sent)
        if not owed:
            return []
        people = self._people({warning.user_id for warning in owed})
        plan = []
        for warning in owed:
            person = people.get(warning.user_id)
            if person is None or not person.email or person.status is not UserStatus.ACTIVE:
                continue
            disable_due = warning.disable_due
            context = {
                "user": person,
                "disable_due": _when(disable_due),
                "last_seen": _when(warning.last_seen),
                "stage": warning.stage,
                "inactive_days": self.inactive_days,
            }
            plan.append(
                self._render(
                    KIND_WARNING,
                    person,
                    f"{self.settings.product_name}: your account will be disabled on "
                    f"{disable_due.day} {disable_due:%B %Y} unless you sign in",
                    context,
                    user_id=warning.user_id,
                    period=warning.last_seen,
                    stage=warning.stage,
                    details={"disable_due": disable_due.isoformat()},
                )
            )
        return plan

    def _people(self, user_ids: set[int]) -> dict[int, Person]:
        ids = sorted(user_ids)
        people: dict[int, Person] = {}
        for batch in batched(ids):
            rows = self.session.execute(
                select(User.id, User.email, User.first_name, User.last_name, User.status).where(User.id.in_(batch))
            )
            people.update((row.id, Person(row.id, row.email, row.first_name, row.last_name, row.status)) for row in rows)
        return people

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
        text_body, html_body = render(kind, context)
        return Notification(
            kind=kind,
            recipient=recipient.email or "",
            recipient_user_id=recipient.id,
            subject=subject,
            text_body=text_body,
            html_body=html_body,
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
        require_no_pending_work(self.session, "the e-mail step")
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
        # The job acts as the System Admin: its records name it as their creator.
        sender_id = self.session.scalar(select(User.id).where(User.oidc_id == SYSTEM_ADMIN_OIDC_ID))
        sent_lines, failed_lines = LogSample(), LogSample()
        with SmtpTransport(self.settings, should_stop=self.should_stop) as transport:
            for notification in notifications:
                if self.should_stop():
                    logger.warning(
                        "stop requested: %s of %s messages left unsent; the next run sends what is still owed",
                        sum(1 for n in notifications if n.status == "planned"),
                        len(notifications),
                        extra={"event": "notifications_stopped"},
                    )
                    break
                self._send_one(transport, notification, created_by=sender_id, log=(sent_lines, failed_lines))

    def _send_one(
        self,
        transport: SmtpTransport,
        notification: Notification,
        *,
        created_by: int | None,
        log: tuple[LogSample, LogSample] | None = None,
    ) -> None:
        sent_lines, failed_lines = log or (LogSample(), LogSample())
        at = self.clock()
        # Recorded before it leaves: should the job die mid-send, the UNKNOWN
        # record still stops a second copy.
        record = EmailRecord(status=RecordStatus.UNKNOWN, created_on=at, updated_on=at, created_by=created_by)
        _fill_record(record, notification)
        self._insert_record(record)
        self.session.commit()
        notification.record_id = record.id
        try:
            transport.send(
                compose(
                    self.settings,
                    subject=notification.subject,
                    recipient=notification.recipient,
                    text_body=notification.text_body,
                    html_body=notification.html_body,
                    at=at,
                )
            )
        except Exception as exc:  # any failure of this message: record it, go on with the rest
            notification.status, notification.error = "failed", describe_error(exc)
            if failed_lines.take():
                logger.error(
                    "could not send %s to %s: %s",
                    notification.kind,
                    notification.recipient,
                    notification.error,
                    extra={"event": "notification_failed", **_logged(notification)},
                )
        else:
            notification.status = "sent"
            if sent_lines.take():
                logger.info(
                    "sent %s to %s",
                    notification.kind,
                    notification.recipient,
                    extra={"event": "notification_sent", **_logged(notification)},
                )
        with evidence.resealing(record, self.evidence_keys):
            record.status = RecordStatus.SUCCESS if notification.status == "sent" else RecordStatus.FAILED
            record.error = notification.error
            record.updated_on = self.clock()
        self.session.commit()

    def _insert_record(self, record: EmailRecord) -> None:
        """The one place an e-mail record is inserted: as the newest link of the evidence chain (the caller commits)."""
        evidence.append_record(self.session, record, self.evidence_keys)

    def _send_lock(self) -> AbstractContextManager[bool]:
        """PostgreSQL's advisory lock for sending, one per schema (always acquired on SQLite)."""
        return try_advisory_lock(self.session.get_bind(), LockPurpose.SEND)


def _logged(notification: Notification) -> dict[str, Any]:
    """A message as its log line shows it: who, about whom, which period and stage; not the whole summary list."""
    shown = notification.to_dict()
    if "users" in shown:
        shown["users"] = len(shown["users"])
    return shown


def details_of(record: EmailRecord) -> dict[str, Any]:
    """A record as the policy reads a past message: what ``Notification.record_details`` wrote."""
    return {
        "kind": record.kind,
        "recipient": record.recipient,
        "recipient_user_id": record.recipient_user_id,
        "user_id": record.user_id,
        "period": record.period.isoformat() if record.period else None,
        "stage": record.stage,
        "subject": record.subject,
        **(record.details or {}),
        "error": record.error,
    }


def _fill_record(record: EmailRecord, notification: Notification) -> None:
    record.kind = notification.kind
    record.recipient = notification.recipient
    record.recipient_user_id = notification.recipient_user_id
    record.user_id = notification.user_id
    record.period = notification.period
    record.stage = notification.stage
    record.subject = notification.subject
    record.error = notification.error
    record.details = dict(notification.details)


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
