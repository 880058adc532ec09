"""Initial schema: the CRM store, the outbox and callpop's operational tables.

Revision ID: 0001
Revises:
Create Date: 2026-05-20

Written by hand, with its own frozen column types (a revision must not change when
the application's types do). Later revisions go on top of the single head.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(200)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("account", sa.String(64)),
        sa.Column("tier", sa.String(32)),
        sa.Column("language", sa.String(35)),
        sa.Column("email", sa.String(254)),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        ts("created_at"),
        ts("updated_at"),
        sa.UniqueConstraint("external_id", name="uq_customers_external_id"),
        sa.UniqueConstraint("account", name="uq_customers_account"),
    )
    op.create_table(
        "customer_phones",
        sa.Column("e164", sa.String(16), nullable=False),
        sa.Column("customer_id", BIGID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("e164", "customer_id", name="pk_customer_phones"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], ondelete="CASCADE",
            name="fk_customer_phones_customer_id_customers",
        ),
    )
    op.create_index("ix_customer_phones_customer_id", "customer_phones", ["customer_id"])
    op.create_table(
        "cases",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", BIGID, nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        ts("opened_at"),
        ts("closed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], ondelete="CASCADE",
            name="fk_cases_customer_id_customers",
        ),
        sa.CheckConstraint("status IN ('open', 'pending', 'closed')", name="ck_cases_status"),
    )
    op.create_index("ix_cases_customer_id_status", "cases", ["customer_id", "status"])
    op.create_table(
        "interactions",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(200)),
        sa.Column("agent", sa.String(200)),
        sa.Column("journey", sa.Text(), nullable=False, server_default=""),
        sa.Column("disposition", sa.String(64)),
        sa.Column("notes", sa.Text(), nullable=False, server_default=""),
        ts("started_at"),
        ts("ended_at", nullable=True),
        sa.Column("external_id", sa.String(200)),
        ts("updated_at"),
        sa.UniqueConstraint("call_id", name="uq_interactions_call_id"),
    )
    op.create_index(
        "ix_interactions_customer_id_started_at", "interactions", ["customer_id", "started_at"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        ts("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        ts("next_attempt_at"),
        ts("locked_until", nullable=True),
        ts("delivered_at", nullable=True),
        ts("failed_at", nullable=True),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("call_id", "seq", name="uq_outbox_call_id_seq"),
    )
    pending = sa.text("delivered_at IS NULL AND failed_at IS NULL")
    op.create_index(
        "ix_outbox_pending", "outbox", ["next_attempt_at"],
        sqlite_where=pending, postgresql_where=pending,
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("interface", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="agent"),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        ts("created_at"),
        sa.UniqueConstraint("name", name="uq_agents_name"),
        sa.UniqueConstraint("interface", name="uq_agents_interface"),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_agents_role"),
    )
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False, server_default=""),
        sa.Column("caller_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("dnis", sa.String(64), nullable=False, server_default=""),
        sa.Column("customer_id", sa.String(200)),
        ts("started_at"),
        ts("ended_at", nullable=True),
        sa.Column("outcome", sa.String(16)),
        sa.Column("target", sa.String(200)),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_table(
        "journeys",
        sa.Column("call_id", sa.String(128), primary_key=True),
        sa.Column("data", JSON, nullable=False),
        ts("saved_at"),
    )
    op.create_table(
        "pops",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        ts("offered_at"),
        ts("connected_at", nullable=True),
        ts("wrapup_at", nullable=True),
        ts("ended_at", nullable=True),
        ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], ondelete="CASCADE", name="fk_pops_agent_id_agents"
        ),
        sa.UniqueConstraint("call_id", "agent_id", name="uq_pops_call_id_agent_id"),
        sa.CheckConstraint(
            "state IN ('offered', 'live', 'wrapup', 'done', 'retracted')", name="ck_pops_state"
        ),
    )
    op.create_index("ix_pops_agent_id_state", "pops", ["agent_id", "state"])


def downgrade() -> None:
    for table in ("pops", "journeys", "calls", "agents", "outbox", "interactions", "cases",
                  "customer_phones", "customers"):
        op.drop_table(table)
