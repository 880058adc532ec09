"""callpop's tables, as SQLAlchemy Core metadata for queries.

The schema itself is made by the Alembic revisions in `crm_adapter/migrations/`, never
by `create_all`; a test migrates an empty database and compares it with this
metadata, so the two cannot drift apart.

Customer ids are integers here and strings at the port. Interactions, calls and
pops refer to customers by the port's string id with no foreign key: with the REST
adapter the customer lives in the integrator's CRM, not in `customers`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from crm_adapter.sql.limits import LIMITS
from crm_adapter.sql.types import Json, UtcDateTime

__all__ = [
    "AGENT_ROLES",
    "CALLBACK_STATES",
    "LIMITS",
    "POP_STATES",
    "QUEUE_EVENT_KINDS",
    "agents",
    "callbacks",
    "calls",
    "cases",
    "customer_phones",
    "customers",
    "embed_tokens_used",
    "flood_mode",
    "interactions",
    "journey_nodes",
    "journey_outcomes",
    "journeys",
    "metadata",
    "outbox",
    "pops",
    "queue_events",
    "queue_states",
    "session_revocations",
    "survey_answers",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


_BIGID = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

AGENT_ROLES = ("agent", "supervisor", "admin")
POP_STATES = ("offered", "live", "wrapup", "done", "retracted")
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

customers = Table(
    "customers",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("external_id", String(LIMITS["external_id"]), unique=True),
    Column("name", String(LIMITS["name"]), nullable=False),
    Column("account", String(LIMITS["account"]), unique=True),
    Column("tier", String(LIMITS["tier"])),
    Column("language", String(LIMITS["language"])),
    Column("email", String(LIMITS["email"])),
    Column("notes", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The phone index: (e164, customer_id) is the primary key, so a lookup by number is
# one descent of one B-tree that already holds the customer id.
customer_phones = Table(
    "customer_phones",
    metadata,
    Column("e164", String(16), primary_key=True),
    Column(
        "customer_id",
        _BIGID,
        ForeignKey("customers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, nullable=False, server_default="0"),
    Index(None, "customer_id"),
)

# Callers' PINs (crm_adapter/pins.py): an argon2id hash, never the PIN, and the count
# of wrong PINs in a row that locks the customer for a while. Kept apart from
# `customers` so that no customer read ever carries a hash along.
customer_pins = Table(
    "customer_pins",
    metadata,
    Column(
        "customer_id",
        _BIGID,
        ForeignKey("customers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("pin_hash", String(200), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", UtcDateTime),
    Column("changed_at", UtcDateTime, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("customer_id", _BIGID, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(LIMITS["external_id"])),
    Column("subject", String(LIMITS["subject"]), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    CheckConstraint("status IN ('open', 'pending', 'closed')", name="status"),
    Index(None, "customer_id", "status"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False, unique=True),
    Column("customer_id", String(LIMITS["external_id"])),
    Column("agent", String(LIMITS["agent"])),
    Column("journey", Text, nullable=False, server_default=""),
    Column("disposition", String(LIMITS["disposition"])),
    Column("notes", Text, nullable=False, server_default=""),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("external_id", String(LIMITS["external_id"])),  # the CRM's id, once delivered
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "customer_id", "started_at"),
)

# Write-backs waiting for the external CRM. (call_id, seq) is the idempotency key;
# an entry is pending until delivered_at or failed_at is set.
outbox = Table(
    "outbox",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("operation", String(32), nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("failed_at", UtcDateTime),
    Column("last_error", Text),
    UniqueConstraint("call_id", "seq"),
    Index(
        "ix_outbox_pending",
        "next_attempt_at",
        sqlite_where=text("delivered_at IS NULL AND failed_at IS NULL"),
        postgresql_where=text("delivered_at IS NULL AND failed_at IS NULL"),
    ),
)

agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("interface", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False, server_default="agent"),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
)

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(LIMITS["call_id"]), primary_key=True),
    Column("flow", String(64), nullable=False),
    Column("caller", String(64), nullable=False, server_default=""),
    Column("caller_name", String(200), nullable=False, server_default=""),
    Column("dnis", String(64), nullable=False, server_default=""),
    Column("customer_id", String(LIMITS["external_id"])),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("outcome", String(16)),
    Column("target", String(200)),
    # The customer an agent attached to the call in the pop (one of several candidates,
    # or a record created for the caller), by whom and when. Apart from `customer_id`,
    # which is the IVR's identification: a journey written again never undoes a choice.
    Column("chosen_customer_id", String(LIMITS["external_id"])),
    Column("chosen_by", String(LIMITS["agent"])),
    Column("chosen_at", UtcDateTime),
    Index(None, "started_at"),
)

journeys = Table(
    "journeys",
    metadata,
    Column("call_id", String(LIMITS["call_id"]), primary_key=True),
    Column("data", Json, nullable=False),
    Column("saved_at", UtcDateTime, nullable=False),
)

# Journey statistics per hour (callpop report): kept by `JourneyStore.write` in the
# transaction that writes the journeys, so a report over a million calls reads a few
# thousand rows instead of a million JSON documents. An hour is the interval: calls
# count in the hour they started (UTC); `version` is the dialplan version hash, ''
# when the journey has none. Empty strings stand for "none" so the key has no NULLs.
journey_nodes = Table(
    "journey_nodes",
    metadata,
    Column("interval_start", UtcDateTime, primary_key=True),
    Column("entry_flow", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("flow", String(64), primary_key=True),
    Column("node", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("result", String(32), primary_key=True),
    Column("visits", BigInteger, nullable=False),
    Column("ms", BigInteger, nullable=False),
    Column("invalid", BigInteger, nullable=False),
    Column("timeouts", BigInteger, nullable=False),
)

journey_outcomes = Table(
    "journey_outcomes",
    metadata,
    Column("interval_start", UtcDateTime, primary_key=True),
    Column("entry_flow", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("topic", String(32), primary_key=True),
    Column("outcome", String(16), primary_key=True),
    Column("target", String(200), primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("ms", BigInteger, nullable=False),
    Column("ms_min", BigInteger, nullable=False),
    Column("ms_max", BigInteger, nullable=False),
)

pops = Table(
    "pops",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("offered_at", UtcDateTime, nullable=False),
    Column("connected_at", UtcDateTime),
    Column("wrapup_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # what a restarted instance needs to show the pop again as it was
    Column("queue", String(128), nullable=False, server_default=""),
    Column("interface", String(128), nullable=False, server_default=""),
    Column("notes", Text, nullable=False, server_default=""),
    Column("disposition", String(LIMITS["disposition"])),
    Column("reason", String(32)),
    Column("offers", Integer, nullable=False, server_default="0"),
    # the `ami:` entry whose events made the pop (NULL: the /connected route alone)
    Column("pbx", String(64)),
    UniqueConstraint("call_id", "agent_id"),
    CheckConstraint("state IN ('offered', 'live', 'wrapup', 'done', 'retracted')", name="state"),
    Index(None, "agent_id", "state"),
)

# What happened to a call in the queues, keyed by the call id like journeys, pops and
# interactions (one join reconciles them). Every instance writes what it sees: the
# unique key drops a second copy of the same event.
queue_events = Table(
    "queue_events",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("queue", String(128), nullable=False, server_default=""),
    Column("interface", String(128), nullable=False, server_default=""),
    Column("agent_id", Integer),
    Column("reason", String(32)),
    UniqueConstraint("call_id", "kind", "interface", "at"),
    CheckConstraint(
        "kind IN ('joined', 'offered', 'no_answer', 'connected', 'completed', 'withdrawn',"
        " 'abandoned', 'left', 'hungup')",
        name="kind",
    ),
    Index(None, "at"),
)

# Logged-out web sessions, until they would have expired anyway (screenpop.auth).
session_revocations = Table(
    "session_revocations",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("revoked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "revoked_at"),
)

# Embed tokens that have opened a widget socket: each opens one (screenpop.widget).
embed_tokens_used = Table(
    "embed_tokens_used",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
)

# ARI across instances (callpop/ari_ledger.py): instances running a Stasis app with their
# heartbeat, and the live Stasis sessions with their owning instance.
ari_instances = Table(
    "ari_instances",
    metadata,
    Column("instance", String(128), primary_key=True),
    Column("app", String(64), nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Index(None, "app"),
)

ari_sessions = Table(
    "ari_sessions",
    metadata,
    Column("channel_id", String(128), primary_key=True),
    Column("call_id", String(128), nullable=False),
    Column("app", String(64), nullable=False),
    Column("instance", String(128), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Index(None, "instance"),
)

# Queue state for the IVR (callpop/queue_store.py): one row per queue, written by the
# AMI lease holder, read by every instance.
queue_states = Table(
    "queue_states",
    metadata,
    Column("queue", String(128), primary_key=True),
    Column("callers", Integer, nullable=False),
    Column("longest_wait_s", Integer, nullable=False),
    Column("logged_in", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("paused", Integer, nullable=False),
    Column("ewt_s", Integer, nullable=True),
    Column("open", Boolean, nullable=False),
    Column("full", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # when a lease holder connected to Asterisk last vouched for the row (refreshed
    # while connected, changed or not): readers treat an old one as unknown
    Column("seen_at", UtcDateTime, nullable=False),
)

# The flood switch (`callpop flood on|off`): one row, id 1.
flood_mode = Table(
    "flood_mode",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("active", Boolean, nullable=False),
    Column("message", String(64), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

# Callbacks that keep the caller's place (callpop/callbacks/store.py): one row per
# request, unique per call id; every state change is an UPDATE guarded by the state it
# leaves (pending -> placing is the claim that makes a callback placed once).
CALLBACK_STATES = ("pending", "placing", "connected", "failed", "cancelled")

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False),
    Column("queue", String(128), nullable=False),
    Column("number", String(32), nullable=False),
    Column("caller_name", String(200), nullable=False),
    Column("waited_s", Integer, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("position", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("placed_by", String(128), nullable=False),
    Column("interface", String(128), nullable=False),
    Column("channel_id", String(128), nullable=False),
    Column("result", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("call_id"),
    CheckConstraint(
        "state IN ('pending', 'placing', 'connected', 'failed', 'cancelled')", name="state"
    ),
    Index(None, "queue", "state"),
)

# Post-call survey answers (callpop/surveys.py): one row per answer, stored as given.
survey_answers = Table(
    "survey_answers",
    metadata,
    Column("id", _BIGID, primary_key=True, autoincrement=True),
    Column("call_id", String(LIMITS["call_id"]), nullable=False),
    Column("flow", String(64), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("question", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("score", Integer, nullable=False),
    Column("queue", String(128), nullable=False),
    Column("interface", String(128), nullable=False),
    Column("member_name", String(200), nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
    UniqueConstraint("call_id", "flow", "survey", "question", "interface"),
    CheckConstraint("score BETWEEN 1 AND 5", name="score"),
    Index(None, "answered_at"),
)
