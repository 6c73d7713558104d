"""Who commits, and what rides along with every transaction: the one convention, in one place.

**Who commits.** A function that changes data flushes and never commits: the
caller owns the transaction (``services/users/accounts.py``: every status and
profile change; ``UserDeactivationService.disable_one``). Exactly these own
transactions, and commit:

* an HTTP view, once per request that changes something (``api/users.py``,
  ``api/auth.py``); an error handler rolls the request's work back;
* the hourly job, :func:`ops_api.services.job.hourly_job.run_hourly_job`: one
  transaction per disabled user, and each step of the rule (the correction of
  future dates, the daily reconciliation) its own;
* the job's mail step, ``NotificationService.run``: one transaction per
  message's record;
* the run records, ``services/job/job_runs.py``: on a session of their own,
  so a run whose own work was rolled back still leaves its record.

A service that owns its transactions starts with :func:`require_no_pending_work`:
it refuses a session that holds changes not yet committed, instead of
committing or silently discarding someone else's work.

**What rides along.** Listeners on SQLAlchemy's ``Session`` class act on every
session, registered once when this module is imported (``create_app`` does):

============================  ============================  =======================================
listener                      events                        state in ``session.info``
============================  ============================  =======================================
``ops_api.audit``             before_flush, after_flush     ``ops_actor_id`` (set by ``acting_as``
                                                            for a block); ``ops_audit_updates``
                                                            (from one flush to the next)
``ops_api.versioning``        after_flush, before_commit,   ``ops_version_notes`` and its
                              after_commit, savepoints,     savepoint copies: the rows changed in
                              after_transaction_end         this transaction, written as OPS's
                                                            version trail just before commit
this module                   after_flush, do_orm_execute,  :func:`transaction_scoped` state (e.g.
                              after_transaction_end         the status-change locks held), and
                                                            whether the transaction wrote
============================  ============================  =======================================

State that lives as long as the outermost transaction belongs in
:func:`transaction_scoped`, which forgets it when that transaction ends
(commit or rollback), so nothing leaks from one user's transaction into the
next.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ops_api import (
    audit,  # noqa: F401  (registers the ops_db_history listeners)
    versioning,  # noqa: F401  (registers the version-trail listeners)
)

_SCOPED = "ops_transaction_scoped"
_WROTE = "wrote"


class PendingWorkError(RuntimeError):
    """A service that owns its transactions was handed a session holding uncommitted changes."""


def transaction_scoped(session: Session, name: str) -> dict[Any, Any]:
    """A dict kept in ``session.info`` until the outermost transaction ends (commit or rollback)."""
    return session.info.setdefault(_SCOPED, {}).setdefault(name, {})


def require_no_pending_work(session: Session, owner: str) -> None:
    """Refuse a session with changes not yet committed (pending, or flushed in this transaction).

    Then end its read-only transaction, if one is open, so ``owner`` starts on
    a clean boundary. Raises PendingWorkError naming ``owner``.
    """
    if session.new or session.dirty or session.deleted or transaction_scoped(session, _WROTE):
        raise PendingWorkError(f"{owner} owns its session's transactions: commit or roll back the pending work first")
    session.rollback()


@event.listens_for(Session, "after_flush")
def _note_flushed_write(session: Session, flush_context: UOWTransaction) -> None:
    if session.new or session.dirty or session.deleted:
        transaction_scoped(session, _WROTE)[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        transaction_scoped(state.session, _WROTE)[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction_state(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_SCOPED, None)
