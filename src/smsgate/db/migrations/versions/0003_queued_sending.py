"""queued sending: batches, due and expiry times

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smsgate.db.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("send_at", UtcDateTime(), nullable=True),
        sa.Column("validity_s", sa.Integer(), nullable=True),
        sa.Column("canceled_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("due_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", UtcDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_messages_status_due_at", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status_due_at")
        batch_op.drop_index(batch_op.f("ix_messages_batch_id"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("due_at")
        batch_op.drop_column("batch_id")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_created_at"))
    op.drop_table("batches")
