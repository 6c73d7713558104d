"""Read a user's history as OPS's own code reads it: through SQLAlchemy-Continuum.

Run as a process of its own, because Continuum hooks into SQLAlchemy's
mappers and sessions for the whole process:

    python continuum_reader.py DATABASE_URL SCHEMA USER_ID     (SCHEMA "-" on SQLite)

The models are OPS's ``ops_user`` and ``user_session`` as OPS declares them,
versioned as OPS versions them (``make_versioned(user_cls=None)``,
``__versioned__ = {}``). Prints, as JSON, every version of the user and of
each of the user's sessions, with what Continuum derives from them: the
previous version, the changeset and the transaction.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, configure_mappers, mapped_column
from sqlalchemy_continuum import make_versioned

make_versioned(user_cls=None)


class Base(DeclarativeBase):
    pass


class AuditColumns:
    created_by: Mapped[int | None] = mapped_column(sa.Integer)
    updated_by: Mapped[int | None] = mapped_column(sa.Integer)
    created_on: Mapped[datetime | None] = mapped_column(sa.DateTime)
    updated_on: Mapped[datetime | None] = mapped_column(sa.DateTime)


class User(AuditColumns, Base):
    __versioned__: dict[str, Any] = {}
    __tablename__ = "ops_user"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    oidc_id = mapped_column(sa.Uuid)
    hhs_id = mapped_column(sa.String)
    email = mapped_column(sa.String)
    first_name = mapped_column(sa.String)
    last_name = mapped_column(sa.String)
    division = mapped_column(sa.Integer)
    status = mapped_column(sa.Enum("ACTIVE", "INACTIVE", "LOCKED", name="userstatus", create_constraint=False))


class UserSession(AuditColumns, Base):
    __versioned__: dict[str, Any] = {}
    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id = mapped_column(sa.Integer)
    is_active = mapped_column(sa.Boolean)
    ip_address = mapped_column(sa.String)
    access_token = mapped_column(sa.Text)
    refresh_token = mapped_column(sa.Text)
    last_active_at = mapped_column(sa.DateTime)


configure_mappers()


def describe(version: Any) -> dict[str, Any]:
    previous = version.previous
    return {
        "transaction_id": version.transaction_id,
        "end_transaction_id": version.end_transaction_id,
        "operation_type": version.operation_type,
        "issued_at": version.transaction.issued_at.isoformat(),
        "previous_transaction_id": previous.transaction_id if previous is not None else None,
        "changeset": {key: [str(old), str(new)] for key, (old, new) in version.changeset.items()},
        "status": getattr(version, "status", None),
        "is_active": getattr(version, "is_active", None),
    }


def main(url: str, schema: str, user_id: int) -> None:
    options = {} if schema == "-" else {"execution_options": {"schema_translate_map": {None: schema}}}
    engine = sa.create_engine(url, **options)
    with Session(engine) as session:
        user = session.get(User, user_id)
        assert user is not None, f"no user {user_id}"
        sessions = session.scalars(sa.select(UserSession).where(UserSession.user_id == user_id).order_by(UserSession.id))
        print(
            json.dumps(
                {
                    "user": [describe(version) for version in user.versions],
                    "sessions": {str(row.id): [describe(version) for version in row.versions] for row in sessions},
                }
            )
        )
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
