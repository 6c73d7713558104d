"""OPS's own tables and enum types that this project uses, created only where they are missing.

In an OPS database every one of them exists already (OPS's migrations made
them), and this revision changes nothing there; offline (``--sql``, for a
database administrator attaching to an OPS database) it writes nothing. In an
empty database (the embedded SQLite default, a test database) it creates them
as OPS defines them: OPS's names, types, nullability and defaults, and
SQLAlchemy-Continuum's ``transaction`` table and ``<table>_version`` shadows.

Revision ID: s0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ops_backend.migrations.ops_schema import enum_exists, has_table, is_offline, is_postgresql, ops_schema

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None

# OPS's enum types and the values OPS defines, in the order OPS's migrations leave them.
OPS_ENUMS = {
    "userstatus": ("ACTIVE", "INACTIVE", "LOCKED"),
    "opseventstatus": ("SUCCESS", "FAILED", "UNKNOWN"),
    "opsdbhistorytype": ("NEW", "UPDATED", "DELETED", "ERROR"),
    "opseventtype": (
        "CREATE_BLI", "UPDATE_BLI", "DELETE_BLI", "SEND_BLI_FOR_APPROVAL", "CREATE_PROJECT", "UPDATE_PROJECT",
        "GET_AGREEMENT", "CREATE_NEW_AGREEMENT", "UPDATE_AGREEMENT", "DELETE_AGREEMENT", "CREATE_NEW_CAN",
        "UPDATE_CAN", "DELETE_CAN", "CREATE_CAN_FUNDING_RECEIVED", "UPDATE_CAN_FUNDING_RECEIVED",
        "DELETE_CAN_FUNDING_RECEIVED", "CREATE_CAN_FUNDING_BUDGET", "UPDATE_CAN_FUNDING_BUDGET",
        "DELETE_CAN_FUNDING_BUDGET", "CREATE_CAN_FUNDING_DETAILS", "UPDATE_CAN_FUNDING_DETAILS",
        "DELETE_CAN_FUNDING_DETAILS", "ACKNOWLEDGE_NOTIFICATION", "CREATE_BLI_PACKAGE", "UPDATE_BLI_PACKAGE",
        "CREATE_SERVICES_COMPONENT", "UPDATE_SERVICES_COMPONENT", "DELETE_SERVICES_COMPONENT",
        "CREATE_PROCUREMENT_ACQUISITION_PLANNING", "UPDATE_PROCUREMENT_ACQUISITION_PLANNING",
        "DELETE_PROCUREMENT_ACQUISITION_PLANNING", "CREATE_DOCUMENT", "UPDATE_DOCUMENT", "LOGIN_ATTEMPT",
        "LOGOUT", "IDLE_LOGOUT", "GET_USER_DETAILS", "CREATE_USER", "UPDATE_USER", "DEACTIVATE_USER",
        "CREATE_PORTFOLIO_URL", "UPDATE_PORTFOLIO_URL", "DELETE_PORTFOLIO_URL", "CREATE_CHANGE_REQUEST",
        "UPDATE_CHANGE_REQUEST", "DELETE_CHANGE_REQUEST", "CREATE_PROCUREMENT_SHOP", "UPDATE_PROCUREMENT_SHOP",
        "DELETE_PROCUREMENT_SHOP", "CREATE_ROLE", "UPDATE_ROLE", "DELETE_ROLE", "CREATE_USER_SESSION",
        "UPDATE_USER_SESSION", "DELETE_USER_SESSION", "CREATE_PROCUREMENT_TRACKER", "UPDATE_PROCUREMENT_TRACKER",
        "DELETE_PROCUREMENT_TRACKER", "UPDATE_PROCUREMENT_TRACKER_STEP", "CREATE_PROCUREMENT_ACTION",
        "UPDATE_PROCUREMENT_ACTION", "DELETE_PROCUREMENT_ACTION", "CREATE_GRANT_NUMBER", "UPDATE_GRANT_NUMBER",
        "DELETE_GRANT_NUMBER",
    ),
}


def ops_enum(name: str) -> sa.types.TypeEngine:
    """The native type in OPS's schema on PostgreSQL (made below, never here); text on SQLite."""
    values = OPS_ENUMS[name]
    if is_postgresql():
        return postgresql.ENUM(*values, name=name, schema=ops_schema(), create_type=False)
    return sa.String(length=max(len(v) for v in values))


def audit_columns() -> list[sa.Column]:
    """OPS's created_by/updated_by/created_on/updated_on: all nullable, timestamps without time zone."""
    schema = ops_schema()
    user_id = f"{schema}.ops_user.id" if schema else "ops_user.id"
    return [
        sa.Column("created_by", sa.Integer(), sa.ForeignKey(user_id), nullable=True),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey(user_id), nullable=True),
        sa.Column("created_on", sa.DateTime(), nullable=True),
        sa.Column("updated_on", sa.DateTime(), nullable=True),
    ]


def json_document() -> sa.types.TypeEngine:
    return postgresql.JSONB() if is_postgresql() else sa.JSON()


def upgrade() -> None:
    if is_offline():
        return  # offline SQL is for attaching to an OPS database, which has all of these
    schema = ops_schema()
    if schema is not None:
        if not op.get_bind().execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first():
            # Asked only where it is missing: CREATE SCHEMA IF NOT EXISTS needs a privilege OPS's role lacks.
            op.execute(f'CREATE SCHEMA "{schema}"')
        for name, values in OPS_ENUMS.items():
            if not enum_exists(name):
                postgresql.ENUM(*values, name=name, schema=schema).create(op.get_bind())

    if not has_table("ops_user"):
        user_id_seq = sa.Sequence("ops_user_id_seq", start=500, increment=1, schema=schema)
        id_column = (
            sa.Column("id", sa.Integer(), user_id_seq, server_default=user_id_seq.next_value(), primary_key=True)
            if schema is not None
            else sa.Column("id", sa.Integer(), primary_key=True)
        )
        if schema is not None:
            op.execute(sa.schema.CreateSequence(user_id_seq))
        op.create_table(
            "ops_user",
            id_column,
            sa.Column("oidc_id", sa.Uuid(), nullable=True),
            sa.Column("hhs_id", sa.String(), nullable=True),
            sa.Column("email", sa.String(), nullable=False),
            sa.Column("first_name", sa.String(), nullable=True),
            sa.Column("last_name", sa.String(), nullable=True),
            sa.Column("division", sa.Integer(), nullable=True),
            sa.Column("status", ops_enum("userstatus"), nullable=False, server_default="INACTIVE"),
            *audit_columns(),
            schema=schema,
        )
        op.create_index("ix_ops_user_oidc_id", "ops_user", ["oidc_id"], unique=True, schema=schema)
        op.create_index("ix_ops_user_email", "ops_user", ["email"], schema=schema)

    if not has_table("role"):
        permissions = (
            sa.Column("permissions", postgresql.ARRAY(sa.String()), nullable=False, server_default="{}")
            if schema is not None
            else sa.Column("permissions", sa.JSON(), nullable=False, server_default="[]")
        )
        op.create_table(
            "role",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(), nullable=False),
            permissions,
            *audit_columns(),
            schema=schema,
        )
        op.create_index("ix_role_name", "role", ["name"], schema=schema)

    if not has_table("user_role"):
        prefix = f"{schema}." if schema else ""
        op.create_table(
            "user_role",
            sa.Column("user_id", sa.Integer(), sa.ForeignKey(f"{prefix}ops_user.id"), primary_key=True),
            sa.Column("role_id", sa.Integer(), sa.ForeignKey(f"{prefix}role.id"), primary_key=True),
            *audit_columns(),
            schema=schema,
        )

    if not has_table("user_session"):
        prefix = f"{schema}." if schema else ""
        op.create_table(
            "user_session",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("user_id", sa.Integer(), sa.ForeignKey(f"{prefix}ops_user.id"), nullable=False),
            sa.Column("is_active", sa.Boolean(), nullable=True),
            sa.Column("ip_address", sa.String(), nullable=False),
            sa.Column("access_token", sa.Text(), nullable=False),
            sa.Column("refresh_token", sa.Text(), nullable=False),
            sa.Column("last_active_at", sa.DateTime(), nullable=False),
            *audit_columns(),
            schema=schema,
        )
        op.create_index("ix_user_session_user_id_is_active", "user_session", ["user_id", "is_active"], schema=schema)
        op.create_index("ix_user_session_user_id_created_on", "user_session", ["user_id", "created_on"], schema=schema)

    if not has_table("ops_event"):
        op.create_table(
            "ops_event",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("event_type", ops_enum("opseventtype"), nullable=True),
            sa.Column("event_status", ops_enum("opseventstatus"), nullable=True),
            sa.Column("event_details", json_document(), nullable=True),
            *audit_columns(),
            schema=schema,
        )

    if not has_table("ops_db_history"):
        op.create_table(
            "ops_db_history",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("event_type", ops_enum("opsdbhistorytype"), nullable=True),
            sa.Column("event_details", json_document(), nullable=True),
            sa.Column("class_name", sa.String(), nullable=True),
            sa.Column("row_key", sa.String(), nullable=True),
            sa.Column("changes", json_document(), nullable=True),
            *audit_columns(),
            schema=schema,
        )
        op.create_index(
            "idx_ops_db_history_class_name_row_key_created_on",
            "ops_db_history",
            ["class_name", "row_key", sa.text("created_on DESC")],
            schema=schema,
        )

    _create_version_trail()


# SQLAlchemy-Continuum's version trail in OPS (validity strategy): versioned tables this project writes.
VERSIONED = ("ops_user", "role", "user_role", "user_session", "ops_event", "ops_db_history")


def shadow_columns(inspector: sa.Inspector, table: str, key: list[str]) -> list[sa.Column]:
    schema = ops_schema()
    columns = []
    for column in inspector.get_columns(table, schema=schema):
        column_type = column["type"]
        if isinstance(column_type, postgresql.ENUM):
            # OPS's type, already in the schema: used, never created.
            column_type = postgresql.ENUM(name=column_type.name, schema=schema, create_type=False)
        columns.append(sa.Column(column["name"], column_type, nullable=column["name"] not in key, autoincrement=False))
    return columns


def _create_version_trail() -> None:
    """``transaction`` and each table's ``<table>_version`` shadow, as Continuum makes them: the base
    table's columns (read from the database, so the types are its own), all nullable but the key, plus
    ``transaction_id``, ``end_transaction_id`` and ``operation_type``, keyed on the base key and
    ``transaction_id``."""
    schema = ops_schema()
    inspector = sa.inspect(op.get_bind())
    if not has_table("transaction"):
        op.create_table(
            "transaction",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("remote_addr", sa.String(length=50), nullable=True),
            sa.Column("issued_at", sa.DateTime(), nullable=True),
            schema=schema,
        )
    for table in VERSIONED:
        shadow = f"{table}_version"
        if has_table(shadow):
            continue
        key = inspector.get_pk_constraint(table, schema=schema)["constrained_columns"]
        op.create_table(
            shadow,
            *shadow_columns(inspector, table, key),
            sa.Column("transaction_id", sa.BigInteger(), nullable=False, autoincrement=False),
            sa.Column("end_transaction_id", sa.BigInteger(), nullable=True),
            sa.Column("operation_type", sa.SmallInteger(), nullable=False),
            sa.PrimaryKeyConstraint(*key, "transaction_id", name=f"pk_{shadow}"),
            schema=schema,
        )
        for column in ("transaction_id", "end_transaction_id", "operation_type"):
            op.create_index(f"ix_{shadow}_{column}", shadow, [column], schema=schema)


def downgrade() -> None:
    # OPS's tables belong to OPS: never dropped here. A database this
    # revision created from nothing is dropped as a whole instead.
    pass
