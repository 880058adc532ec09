"""Queue events and what a pop needs to be rebuilt after a restart.

Revision ID: 0005_queue_events
Revises: 0004_session_revocations
Create Date: 2026-12-06

`queue_events`: one row per thing that happened to a call in a queue (joined, offered to
an agent, rang no answer, connected, completed, withdrawn with the reason, abandoned,
left, hung up), keyed by the call id, so telephony statistics, pops and the CRM's
interactions are joined on one column (docs/screenpop.md, "Reconciling a call").
Several callpop instances each see every event: (call, kind, interface, at) is unique
and a second write of the same event is dropped.

`pops` gains the fields a restarted instance needs to show the pop again as it was
(queue, interface, draft notes, disposition, offers, the reason of a withdrawal).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_queue_events"
down_revision = "0004_session_revocations"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias

QUEUE_EVENT_KINDS = (
    "joined",
    "offered",
    "no_answer",
    "connected",
    "completed",
    "withdrawn",
    "abandoned",
    "left",
    "hungup",
)


def upgrade() -> None:
    op.create_table(
        "queue_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False, server_default=""),
        sa.Column("interface", sa.String(128), nullable=False, server_default=""),
        sa.Column("agent_id", sa.Integer()),
        sa.Column("reason", sa.String(32)),
        sa.UniqueConstraint(
            "call_id", "kind", "interface", "at", name="uq_queue_events_call_id_kind_interface_at"
        ),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in QUEUE_EVENT_KINDS) + ")",
            name="ck_queue_events_kind",
        ),
    )
    op.create_index("ix_queue_events_at", "queue_events", ["at"])
    with op.batch_alter_table("pops") as batch:
        batch.add_column(sa.Column("queue", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("interface", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("disposition", sa.String(64)))
        batch.add_column(sa.Column("reason", sa.String(32)))
        batch.add_column(sa.Column("offers", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("pops") as batch:
        for column in ("offers", "reason", "disposition", "notes", "interface", "queue"):
            batch.drop_column(column)
    op.drop_index("ix_queue_events_at", "queue_events")
    op.drop_table("queue_events")
