"""ARI across instances: who runs which Stasis session, and which instances are alive.

Revision ID: 0007_ari_instances
Revises: 0006_embed_tokens_used
Create Date: 2026-12-06

`ari_instances`: one row per callpop instance running a Stasis app, its app name and a
heartbeat stamp it renews every few seconds. `ari_sessions`: one row per live Stasis
session (the channel, its call id, the owning instance), deleted when the session ends.
A surviving instance's reconciliation sends on the channels whose owner's heartbeat
went stale (ivr/ari/resync.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ari_instances"
down_revision = "0006_embed_tokens_used"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ari_instances",
        sa.Column("instance", sa.String(128), primary_key=True),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ari_instances_app", "ari_instances", ["app"])
    op.create_table(
        "ari_sessions",
        sa.Column("channel_id", sa.String(128), primary_key=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("instance", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ari_sessions_instance", "ari_sessions", ["instance"])


def downgrade() -> None:
    op.drop_table("ari_sessions")
    op.drop_table("ari_instances")
