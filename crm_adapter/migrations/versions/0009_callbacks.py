"""Callbacks that keep the caller's place in the queue.

Revision ID: 0009_callbacks
Revises: 0008_flood_queue_states
Create Date: 2026-12-06

`callbacks`: one row per caller who asked to be called back instead of holding
(callpop/callbacks/store.py). `call_id` is unique, so a replayed request never makes a
second row; `state` moves pending -> placing -> connected | pending (a retry) | failed,
each move an UPDATE guarded by the state it leaves, so two instances cannot both place
the same row (docs/admin.md, "Callbacks").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_callbacks"
down_revision = "0008_flood_queue_states"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias

CALLBACK_STATES = ("pending", "placing", "connected", "failed", "cancelled")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=False),
        sa.Column("waited_s", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(128), nullable=False),
        sa.Column("interface", sa.String(128), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("call_id", name="uq_callbacks_call_id"),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in CALLBACK_STATES) + ")",
            name="ck_callbacks_state",
        ),
    )
    op.create_index("ix_callbacks_queue_state", "callbacks", ["queue", "state"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_queue_state", "callbacks")
    op.drop_table("callbacks")
