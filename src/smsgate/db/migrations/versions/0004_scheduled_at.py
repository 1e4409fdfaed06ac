"""messages.scheduled_at: when a queued message was first due

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smsgate.db.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_at", UtcDateTime(), nullable=True))
    # Queued messages stored before this column: their first due time is not known any
    # more; their due time is the best there is.
    op.execute("UPDATE messages SET scheduled_at = due_at WHERE due_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("scheduled_at")
