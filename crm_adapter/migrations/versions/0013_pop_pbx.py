"""The Asterisk a pop's call is on, on the pop's row.

Revision ID: 0013_pop_pbx
Revises: 0012_queue_state_seen_at
Create Date: 2026-12-06

`pops.pbx`: the `name` (or `host:port`) of the `ami:` entry whose events made the pop,
NULL for a pop from the `/connected` route alone. An instance that takes over an
Asterisk's AMI ends the calls whose pops it holds live on that Asterisk and that the
Asterisk no longer lists (`CoreShowChannels`): the caller hung up while no instance was
listening (docs/scale.md). Without the column it could not tell its own vanished calls
from another Asterisk's live ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_pop_pbx"
down_revision = "0012_queue_state_seen_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pops") as batch:
        batch.add_column(sa.Column("pbx", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("pops") as batch:
        batch.drop_column("pbx")
