"""senders, pools and sticky senders; messages.pool, and messages.sender wide enough for a UUID

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smsgate.db.types import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("countries", sa.String(1024), nullable=False),
        sa.Column("mps", sa.Float(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_senders"),
        sa.UniqueConstraint("address", name="uq_senders_address"),
    )
    op.create_table(
        "sender_pools",
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("sender_id", sa.String(26), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "sender_id", name="pk_sender_pools"),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["senders.id"],
            name="fk_sender_pools_sender_id_senders",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "sticky_senders",
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(16), nullable=False),
        sa.Column("sender_id", sa.String(26), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "to_number", name="pk_sticky_senders"),
    )
    op.create_table(
        "sender_registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sender_registry"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.alter_column(
            "sender", existing_type=sa.String(20), type_=sa.String(64), existing_nullable=True
        )
        batch.add_column(sa.Column("pool", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("pool")
        batch.alter_column(
            "sender", existing_type=sa.String(64), type_=sa.String(20), existing_nullable=True
        )
    op.drop_table("sender_registry")
    op.drop_table("sticky_senders")
    op.drop_table("sender_pools")
    op.drop_table("senders")
