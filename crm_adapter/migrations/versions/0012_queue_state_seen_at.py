"""Queue state freshness: `queue_states.seen_at`.

Revision ID: 0012_queue_state_seen_at
Revises: 0011_customer_pins
Create Date: 2026-12-06

`seen_at` is when an instance holding the AMI lease, logged in to Asterisk, last vouched
for the row: set on every write and refreshed every few seconds while connected, so a
row nobody refreshes ages and readers past `queues.state_max_age_s` treat it as unknown
(docs/contracts.md, "Queue state across instances"). Rows already there are as fresh
as their last write.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_queue_state_seen_at"
down_revision = "0011_customer_pins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_states") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE queue_states SET seen_at = updated_at")
    with op.batch_alter_table("queue_states") as batch:
        batch.alter_column("seen_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("queue_states") as batch:
        batch.drop_column("seen_at")
