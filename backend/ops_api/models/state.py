"""This project's own state, in a schema of its own (OPS_DEACTIVATION_SCHEMA, default ``user_deactivation``).

Nothing here is OPS's: OPS's models, migrations and enum types never see these
tables, and OPS's tooling compares only its own schema. What a deactivation
writes into OPS's tables (the status, the ended sessions, the UPDATE_USER
event, ops_db_history, the version trail) stays exactly what a System Admin's
change writes.

* :class:`UserActivity`: the rule's view of each OPS user, kept by triggers on
  OPS's ``ops_user`` and ``user_session`` whoever writes them (OPS's own code
  included), and read by the hourly search through one index.
* :class:`FutureStamp` and :class:`MovedSession`: dates found later than now,
  and sessions moved to another user; the job warns about each, once.
* :class:`JobRun`: one record per run of the job; :class:`EmailRecord`: one
  per e-mail the job sent or tried to send. Both are links of one signed
  chain (:class:`ChainColumns`, :mod:`ops_api.domain.evidence_chain`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from ops_api.clock import utcnow
from ops_api.models.base import Base, JSONDocument
from ops_api.sql import OWN_SCHEMA, latest_of


def project_enum(enum_class: type[enum.Enum]) -> Enum:
    """A Python enum stored as its member name in plain text: no database type to create, alter or drop."""
    return Enum(enum_class, native_enum=False, create_constraint=False, length=max(len(m.name) for m in enum_class))


class UserActivity(Base):
    """The rule's view of one OPS user (``user_activity``): one row per ``ops_user`` row.

    Triggers on OPS's tables keep it, whoever writes them: a session's
    activity raises ``last_active_at`` (within a minute, so most requests
    write nothing here) and deleting sessions never lowers it; a change of
    status sets ``is_active`` and, when the account is made ACTIVE again,
    ``reactivated_on``; a new user gets a row. The job's correction replaces a
    date found later than now with the moment it first saw it (the original
    stays in OPS's row and in :class:`FutureStamp`).
    """

    __tablename__ = "user_activity"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ops_user.status = 'ACTIVE', as last written.
    is_active: Mapped[bool] = mapped_column()
    # ops_user.created_on (or, if it lay in the future, when the job first saw it).
    created_on: Mapped[datetime | None] = mapped_column()
    # The latest activity ever recorded in any of the user's sessions.
    last_active_at: Mapped[datetime | None] = mapped_column()
    # When the account was last made ACTIVE again; None if never. updated_on
    # cannot serve: any edit of the user (name, roles) bumps it.
    reactivated_on: Mapped[datetime | None] = mapped_column()

    __table_args__ = {"schema": OWN_SCHEMA}

    def __repr__(self) -> str:
        return f"<UserActivity {self.user_id} active={self.is_active}>"


def activity_watermark() -> latest_of:
    """The latest of the view's dates: last activity, reactivation, creation.

    Never later than the rule's ``last_seen`` (which also reads the sessions
    still present), so "watermark at or before the cutoff" finds every user
    who can be due, through the index below. NULL only when all three are.
    """
    return latest_of(UserActivity.last_active_at, UserActivity.reactivated_on, UserActivity.created_on)


# The hourly search reads a range of this index only; INACTIVE and LOCKED
# users sit in a range of their own that the search never reads.
Index("ix_user_activity_is_active_watermark", UserActivity.is_active, activity_watermark())


class StampSource(enum.Enum):
    """Where a date later than now was found."""

    CREATED_ON = "created_on"  # ops_user.created_on
    REACTIVATED_ON = "reactivated_on"  # user_activity.reactivated_on
    SESSION = "session"  # a user_session's last_active_at


class FutureStamp(Base):
    """A date found later than now (clock skew, bad data), with the moment the job first saw it (``future_stamp``).

    The rule counts such a date as that moment, so it exempts an account for
    one window at most; OPS's own rows keep the original.
    """

    __tablename__ = "future_stamp"
    __table_args__ = (UniqueConstraint("user_id", "source", "recorded"), {"schema": OWN_SCHEMA})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column()
    source: Mapped[StampSource] = mapped_column(project_enum(StampSource))
    # The date as recorded in OPS's row (or in the view), never changed.
    recorded: Mapped[datetime] = mapped_column()
    first_seen_at: Mapped[datetime] = mapped_column()


class MovedSession(Base):
    """A session whose ``user_id`` was changed (``moved_session``): its activity now counts for another user.

    Written by the trigger on ``user_session``; the next run warns about it and sets ``reported_at``.
    """

    __tablename__ = "moved_session"
    __table_args__ = {"schema": OWN_SCHEMA}

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column()
    from_user_id: Mapped[int | None] = mapped_column()
    to_user_id: Mapped[int] = mapped_column()
    last_active_at: Mapped[datetime | None] = mapped_column()
    moved_at: Mapped[datetime] = mapped_column()
    reported_at: Mapped[datetime | None] = mapped_column()


class RecordStatus(enum.Enum):
    """A record's state, in the words OPS's events use."""

    UNKNOWN = "UNKNOWN"  # a run still running; an e-mail handed over but not confirmed
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class ChainColumns:
    """A record's place in the signed chain of the job's records (:mod:`ops_api.domain.evidence_chain`).

    All None on records written before the chain began (migration s0004).
    """

    # The position in the one chain across job_run and email_record: 1, 2, 3, ...
    chain_seq: Mapped[int | None] = mapped_column(BigInteger)
    # The SHA-256 of the header of the record before it, and that record's name (job_run:12).
    chain_prev: Mapped[str | None] = mapped_column(String(64))
    chain_prev_record: Mapped[str | None] = mapped_column(String(64))
    # The first 8 hex digits of the sealing key's SHA-256 (None: unsigned), and the seal itself.
    chain_key_id: Mapped[str | None] = mapped_column(String(8))
    chain_seal: Mapped[str | None] = mapped_column(String(64))


class JobRun(ChainColumns, Base):
    """One run of the job (``job_run``): written when it starts (UNKNOWN, outcome "running"), completed when it ends."""

    __tablename__ = "job_run"
    __table_args__ = (
        Index("ix_job_run_started_at", "started_at"),
        Index("ix_job_run_chain_seq", "chain_seq", unique=True),
        {"schema": OWN_SCHEMA},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[RecordStatus] = mapped_column(project_enum(RecordStatus))
    outcome: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column()
    as_of: Mapped[datetime | None] = mapped_column()
    threshold_days: Mapped[int | None] = mapped_column()
    max_disable: Mapped[int | None] = mapped_column()
    candidates: Mapped[int | None] = mapped_column()
    disabled: Mapped[int | None] = mapped_column()
    failed: Mapped[int | None] = mapped_column()
    no_longer_due: Mapped[int | None] = mapped_column()
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    skipped_reason: Mapped[str | None] = mapped_column(Text)
    # The first errors (user id and message); the job's log has all of them.
    errors: Mapped[list[Any]] = mapped_column(JSONDocument, default=list)
    # The e-mail that followed the run: messages sent and failed, and why the step failed (None: it did not).
    emails_sent: Mapped[int | None] = mapped_column()
    emails_failed: Mapped[int | None] = mapped_column()
    mail_error: Mapped[str | None] = mapped_column(Text)
    # Whether the run checked the whole view against OPS's rows (once a day; see UserDeactivationService.reconcile_view).
    reconciled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The System Admin, as whom the job acts.
    created_by: Mapped[int | None] = mapped_column()
    # For each user the run disabled: {"user_id", "event_id", "sha256"} of the UPDATE_USER event it wrote.
    disabled_events: Mapped[list[Any] | None] = mapped_column(JSONDocument)

    def __repr__(self) -> str:
        return f"<JobRun {self.id} {self.outcome} {self.status.name}>"


class EmailRecord(ChainColumns, Base):
    """One e-mail the job sent or tried to send (``email_record``).

    Written UNKNOWN before the message is handed to the SMTP server, then set
    to SUCCESS or FAILED: SUCCESS and UNKNOWN count as sent and are never
    repeated.
    """

    __tablename__ = "email_record"
    __table_args__ = (
        Index("ix_email_record_kind_created_on", "kind", "created_on"),
        Index("ix_email_record_user_id_kind_created_on", "user_id", "kind", "created_on"),
        Index("ix_email_record_chain_seq", "chain_seq", unique=True),
        {"schema": OWN_SCHEMA},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_on: Mapped[datetime] = mapped_column(default=utcnow)
    updated_on: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[RecordStatus] = mapped_column(project_enum(RecordStatus))
    # inactivity_warning, deactivation_notice or deactivation_summary.
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String)
    recipient_user_id: Mapped[int | None] = mapped_column()
    # The user the message is about (None for a summary).
    user_id: Mapped[int | None] = mapped_column()
    # That user's last_seen: the inactivity period the message belongs to.
    period: Mapped[datetime | None] = mapped_column()
    # Days before disable_due (warnings only).
    stage: Mapped[int | None] = mapped_column()
    subject: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # What else the message said: disable_due, disabled_on, the summary's users and run_at.
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_by: Mapped[int | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<EmailRecord {self.id} {self.kind} {self.status.name}>"
