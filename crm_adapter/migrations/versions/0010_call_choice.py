"""The customer an agent chose for a call, on the call's row.

Revision ID: 0010_call_choice
Revises: 0009_callbacks
Create Date: 2026-12-06

`calls.chosen_customer_id`, `chosen_by`, `chosen_at`: written when the agent picks one
of several customers sharing the number in the pop, or creates a record for an unknown
caller (docs/contracts.md, "Matching and identity"). `customer_id` stays the IVR's own
identification.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_call_choice"
down_revision = "0009_callbacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("chosen_customer_id", sa.String(200)))
        batch.add_column(sa.Column("chosen_by", sa.String(200)))
        batch.add_column(sa.Column("chosen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("chosen_at")
        batch.drop_column("chosen_by")
        batch.drop_column("chosen_customer_id")
