"""Journey statistics per hour (`callpop report`), filled from the journeys already stored.

Revision ID: 0003_journey_stats
Revises: 0001
Create Date: 2026-12-06

`journey_nodes` counts node visits by how they ended, `journey_outcomes` calls by
topic, outcome and target, per hour the call started in, per entry flow and per
dialplan version hash. `JourneyStore.write` keeps them from now on; this revision
computes them once from every journey already stored, in the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_journey_stats"
down_revision = "0001"
branch_labels = None
depends_on = None


def key() -> tuple[sa.Column[object], ...]:
    """The interval columns both tables start with (a column belongs to one table)."""
    return (
        sa.Column("interval_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("entry_flow", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
    )


# Per dialect: the hour a call started in, a field of the journey and of a step.
_SQLITE = {
    "hour": "substr(c.started_at, 1, 13) || ':00:00.000000'",
    "steps": "json_each(j.data, '$.steps') AS s",
    "step": "coalesce(s.value ->> '{0}', '')",
    "step_num": "CAST(total(s.value ->> '{0}') AS INTEGER)",
    "field": "coalesce(j.data ->> '$.{0}', '')",
    "num": "(j.data ->> '$.{0}')",
}
_POSTGRES = {
    "hour": "date_trunc('hour', c.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "steps": "jsonb_array_elements(j.data -> 'steps') AS s",
    "step": "coalesce(s ->> '{0}', '')",
    "step_num": "coalesce(sum((s ->> '{0}')::bigint), 0)",
    "field": "coalesce(j.data #>> '{{{1}}}', '')",
    "num": "(j.data #>> '{{{1}}}')::bigint",
}


def _sql(kind: str, dialect: dict[str, str], path: str) -> str:
    return dialect[kind].format(path, path.replace(".", ","))


def upgrade() -> None:
    op.create_table(
        "journey_nodes",
        *key(),
        sa.Column("flow", sa.String(64), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("result", sa.String(32), primary_key=True),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("ms", sa.BigInteger(), nullable=False),
        sa.Column("invalid", sa.BigInteger(), nullable=False),
        sa.Column("timeouts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "interval_start",
            "entry_flow",
            "version",
            "flow",
            "node",
            "kind",
            "result",
            name="pk_journey_nodes",
        ),
    )
    op.create_table(
        "journey_outcomes",
        *key(),
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("outcome", sa.String(16), primary_key=True),
        sa.Column("target", sa.String(200), primary_key=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("ms", sa.BigInteger(), nullable=False),
        sa.Column("ms_min", sa.BigInteger(), nullable=False),
        sa.Column("ms_max", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "interval_start",
            "entry_flow",
            "version",
            "topic",
            "outcome",
            "target",
            name="pk_journey_outcomes",
        ),
    )
    d = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    version = _sql("field", d, "version.hash")
    at = _sql("num", d, "outcome.at_ms")
    op.execute(
        "INSERT INTO journey_nodes SELECT"
        f" {d['hour']}, c.flow, {version}, {_sql('step', d, 'flow')}, {_sql('step', d, 'node')},"
        f" {_sql('step', d, 'kind')}, substr({_sql('step', d, 'result')}, 1, 32), count(*),"
        f" {_sql('step_num', d, 'ms')}, {_sql('step_num', d, 'invalid')}, {_sql('step_num', d, 'timeouts')}"
        f" FROM journeys j JOIN calls c ON c.call_id = j.call_id CROSS JOIN {d['steps']}"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )
    op.execute(
        "INSERT INTO journey_outcomes SELECT"
        f" {d['hour']}, c.flow, {version}, substr({_sql('field', d, 'topic')}, 1, 32),"
        f" substr({_sql('field', d, 'outcome.type')}, 1, 16), substr({_sql('field', d, 'outcome.target')}, 1, 200),"
        f" count(*), coalesce(sum({at}), 0), coalesce(min({at}), 0), coalesce(max({at}), 0)"
        " FROM journeys j JOIN calls c ON c.call_id = j.call_id GROUP BY 1, 2, 3, 4, 5, 6"
    )


def downgrade() -> None:
    op.drop_table("journey_outcomes")
    op.drop_table("journey_nodes")
