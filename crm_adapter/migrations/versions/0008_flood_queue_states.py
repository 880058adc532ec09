"""Queue state shared by every instance, and the flood switch.

Revision ID: 0008_flood_queue_states
Revises: 0007_ari_instances
Create Date: 2026-12-06

`queue_states`: one row per Asterisk queue, written by the instance holding the AMI lease
(callpop/queue_store.py) and read by every instance's IVR (`queue.Q.X` conditions).
`flood_mode`: one row, the switch `callpop flood on|off` sets (docs/dialplan.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_flood_queue_states"
down_revision = "0007_ari_instances"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_states",
        sa.Column("queue", sa.String(128), primary_key=True),
        sa.Column("callers", sa.Integer(), nullable=False),
        sa.Column("longest_wait_s", sa.Integer(), nullable=False),
        sa.Column("logged_in", sa.Integer(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Integer(), nullable=False),
        sa.Column("ewt_s", sa.Integer(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "flood_mode",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flood_mode")
    op.drop_table("queue_states")
