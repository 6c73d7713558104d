"""Index user_session by (last_active_at, user_id): who was active after a given instant.

The hourly inactive-account run asks it twice: which users have activity after
the cutoff (PostgreSQL hashes them, reading this index only) and which have
activity stamped later than now (an empty or tiny range).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_user_session_last_active_at_user_id", "user_session", ["last_active_at", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_session_last_active_at_user_id", table_name="user_session")
