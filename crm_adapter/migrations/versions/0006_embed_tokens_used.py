"""Embed tokens already used: each opens one widget socket, once.

Revision ID: 0006_embed_tokens_used
Revises: 0005_queue_events
Create Date: 2026-12-06

A widget's token travels in the socket's URL, so it may end up in a proxy's access
log; one that has opened a socket is refused after, on every instance sharing the
database. Rows live until the token would have expired anyway.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_embed_tokens_used"
down_revision = "0005_queue_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embed_tokens_used",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("embed_tokens_used")
