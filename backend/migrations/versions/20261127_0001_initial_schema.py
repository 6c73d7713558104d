"""Initial schema: users, roles, sessions, events and the audit history.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def audit_columns(table: str) -> list:
    """created_by/updated_by/created_on/updated_on, as on every model."""
    return [
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["ops_user.id"], name=f"fk_{table}_created_by_ops_user"),
        sa.ForeignKeyConstraint(["updated_by"], ["ops_user.id"], name=f"fk_{table}_updated_by_ops_user"),
    ]


def enum_by_name(name: str, *values: str, length: int = 64) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length)


def upgrade() -> None:
    op.create_table(
        "ops_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oidc_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reactivated_on", sa.DateTime(timezone=True), nullable=True),
        *audit_columns("ops_user"),
        sa.CheckConstraint("status IN ('ACTIVE', 'INACTIVE', 'LOCKED')", name="ck_ops_user_user_status"),
        sa.PrimaryKeyConstraint("id", name="pk_ops_user"),
        sa.UniqueConstraint("oidc_id", name="uq_ops_user_oidc_id"),
    )
    op.create_table(
        "role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        *audit_columns("role"),
        sa.PrimaryKeyConstraint("id", name="pk_role"),
        sa.UniqueConstraint("name", name="uq_role_name"),
    )
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["role_id"], ["role.id"], name="fk_user_role_role_id_role", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["ops_user.id"], name="fk_user_role_user_id_ops_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="pk_user_role"),
    )
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        *audit_columns("user_session"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["ops_user.id"], name="fk_user_session_user_id_ops_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_session"),
    )
    # "Latest activity of this user" and "any activity after the cutoff".
    op.create_index("ix_user_session_user_id_last_active_at", "user_session", ["user_id", "last_active_at"])

    op.create_table(
        "ops_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_type", enum_by_name("ops_event_type"), nullable=False),
        sa.Column("event_status", enum_by_name("ops_event_status"), nullable=False),
        sa.Column("event_details", JSON_DOCUMENT, nullable=True),
        *audit_columns("ops_event"),
        sa.PrimaryKeyConstraint("id", name="pk_ops_event"),
    )
    op.create_index("ix_ops_event_event_type_created_on", "ops_event", ["event_type", "created_on"])

    op.create_table(
        "ops_db_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_type", enum_by_name("ops_db_history_type"), nullable=False),
        sa.Column("class_name", sa.String(length=255), nullable=False),
        sa.Column("row_key", sa.String(length=255), nullable=False),
        sa.Column("changes", JSON_DOCUMENT, nullable=True),
        sa.Column("event_details", JSON_DOCUMENT, nullable=True),
        *audit_columns("ops_db_history"),
        sa.PrimaryKeyConstraint("id", name="pk_ops_db_history"),
    )
    op.create_index("ix_ops_db_history_class_name_row_key", "ops_db_history", ["class_name", "row_key"])


def downgrade() -> None:
    op.drop_table("ops_db_history")
    op.drop_table("ops_event")
    op.drop_table("user_session")
    op.drop_table("user_role")
    op.drop_table("role")
    op.drop_table("ops_user")
