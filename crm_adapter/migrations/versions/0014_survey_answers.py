"""Post-call survey answers.

Revision ID: 0014_survey_answers
Revises: 0013_pop_pbx
Create Date: 2026-12-06

`survey_answers`: one row per answer a caller keyed after their queue call
(callpop/surveys.py), stored as it is given, so a caller who hangs up midway keeps the
answers given. The call id, the queue and the agent's interface are the caller
channel's (CALLPOP_CALL_ID, QUEUENAME, MEMBERINTERFACE). Unique per call, survey,
question and agent: a replayed answer never makes a second row, while a call that
reaches two agents (a transfer to another queue) is surveyed for each.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_survey_answers"
down_revision = "0013_pop_pbx"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid alias


def upgrade() -> None:
    op.create_table(
        "survey_answers",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("question", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("interface", sa.String(128), nullable=False),
        sa.Column("member_name", sa.String(200), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "call_id",
            "flow",
            "survey",
            "question",
            "interface",
            name="uq_survey_answers_call_id_flow_survey_question_interface",
        ),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_survey_answers_score"),
    )
    op.create_index("ix_survey_answers_answered_at", "survey_answers", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_survey_answers_answered_at", "survey_answers")
    op.drop_table("survey_answers")
