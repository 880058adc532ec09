"""Callers' PINs, hashed, with the count of wrong ones that locks a customer.

Revision ID: 0011_customer_pins
Revises: 0010_call_choice
Create Date: 2026-12-06

`customer_pins`: one row per customer who has a PIN (an argon2id hash), `failures` the
wrong PINs in a row and `locked_until` the end of a lock (crm_adapter/pins.py;
docs/contracts.md, "Matching and identity").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_customer_pins"
down_revision = "0010_call_choice"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias


def upgrade() -> None:
    op.create_table(
        "customer_pins",
        sa.Column(
            "customer_id",
            BIGID,
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customer_pins")
