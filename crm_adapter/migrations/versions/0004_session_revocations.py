"""Revoked web sessions: a logout holds on every instance and across restarts.

Revision ID: 0004_session_revocations
Revises: 0003_journey_stats
Create Date: 2026-12-06

One row per revoked session nonce until the session would have expired anyway
(rows past `expires_at` are deleted as new ones come). `revoked_at` is indexed: each
instance reads the revocations since its last look to close that session's sockets.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_session_revocations"
down_revision = "0003_journey_stats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_revocations",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_session_revocations_revoked_at", "session_revocations", ["revoked_at"])


def downgrade() -> None:
    op.drop_table("session_revocations")
