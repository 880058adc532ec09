"""The classic AGI script's `CallServices` on a SQLite site, with the standard library's
sqlite3 and nothing else: no SQLAlchemy, no metrics, no bus, no pydantic settings.

A process per call pays for every import on every call (docs/benchmarks.md): the
services `serve` builds (SQLAlchemy's engine, the CRM stack with its breaker and cache,
prometheus_client, the pop bus) cost the script most of a second of CPU for one lookup
and one journey. Here the same reads and the same writes run through sqlite3 directly:

- the lookup runs the built-in CRM's own statements (`crm_adapter.sql.queries`) on a
  read-only WAL connection (`SqliteReader`, as `serve` reads on its loop), within the
  lookup budget of `crm_adapter.lookup`; phonenumbers is imported for a lookup by phone
  only, when it happens;
- the journey is written with the upserts `callpop.journeys.JourneyStore` writes with
  (compiled by SQLAlchemy once per version of the files, kept in the script's cache:
  `ClassicSite.statements`), in one transaction, with the same values, so the rows
  read back exactly as `serve`'s (tests/callpop/test_classic_services.py compares them);
- queue state (`queue_states`), the flood switch (`flood_mode`) and callback requests
  (`callbacks`) are read and written with the statements below, which read and write
  what `QueueStateStore`, `FloodStore` and `CallbackStore` do (the same test file checks
  it); one read per call (a process lives for one), and a failed read answers as
  `serve`'s readers do before their first: queue unknown, flood mode off, callback
  unavailable;
- there are no metrics (a process's counters die with it) and no bus: nobody in this
  process listens, and the pop follows from the journey in the database.

`ClassicSite` is what the script needs of the config: taken from the validated config
when the cache is filled (`site_of`), read back with the flows on the next calls.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from callpop.callbacks.rules import WAITING, check_request, printable
from callpop.journey_rows import SqliteForm, sqlite_time, write_sqlite
from crm_adapter.lookup import lookup_within_budget, pin_within_budget
from crm_adapter.lookup_watch import LookupWatch
from crm_adapter.port import Case, CrmUnavailable, Customer
from crm_adapter.sql.limits import LIMITS
from crm_adapter.sql.queries import (
    BY_ACCOUNT,
    FIND_BY_PHONE,
    OPEN_CASES,
    customer_id_of,
    customers_from_rows,
)
from crm_adapter.sql.sqlite_file import SqliteReader, connect
from ivr.actions import CallbackRequest
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    FloodLooked,
    LookupFinished,
    PinChecked,
    QueuesLooked,
    QueueValue,
)
from ivr.journey import Journey
from ivr.ports import CallEvent
from ivr.sequential import SEQUENTIAL

if TYPE_CHECKING:
    from callpop.config import Config
    from crm_adapter.phone import PhoneNormaliser
    from ivr.survey import SurveyAnswer, SurveyLeg

__all__ = ["ClassicServices", "ClassicSite", "SqliteDirectory", "SqliteJourneys", "site_of"]

log = logging.getLogger("callpop.classic")

# `crm.pin_budget_ms`'s default: the site's cache holds the lookup budget only, and a
# process serving one call has nobody else to keep waiting.
_PIN_BUDGET_S = 1.5

# The statements of `ClassicSite.statements`, by table.
STATEMENTS = ("calls", "journeys", "journey_nodes", "journey_outcomes")


@dataclass(frozen=True, slots=True)
class ClassicSite:
    """What the classic script needs of a validated config, as plain values."""

    database: str  # the SQLite file
    lookup_budget_ms: int
    phone_region: str
    international_prefixes: tuple[str, ...]
    statements: Mapping[str, str]  # table -> the SQLite upsert `JourneyStore` writes with
    queue_state_max_age_s: float  # `queues.state_max_age_s`: older queue state is unknown

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "statements": dict(self.statements)}

    @classmethod
    def of(cls, data: Any) -> ClassicSite | None:
        """From `to_dict()`'s output, or None if `data` is not that."""
        try:
            site = cls(
                database=data["database"],
                lookup_budget_ms=data["lookup_budget_ms"],
                phone_region=data["phone_region"],
                international_prefixes=tuple(data["international_prefixes"]),
                statements=dict(data["statements"]),
                queue_state_max_age_s=data["queue_state_max_age_s"],
            )
        except (TypeError, KeyError):
            return None
        if not isinstance(site.queue_state_max_age_s, (int, float)):
            return None
        fields = (site.database, site.phone_region, *site.international_prefixes)
        if not all(isinstance(text, str) for text in fields):
            return None
        if not isinstance(site.lookup_budget_ms, int) or set(site.statements) != set(STATEMENTS):
            return None
        return site if all(isinstance(sql, str) for sql in site.statements.values()) else None


def site_of(config: Config) -> ClassicSite | None:
    """The classic site of a validated config, or None when the script must take the
    whole composition: PostgreSQL (asyncpg and SQLAlchemy are what callpop has to reach
    it), a REST CRM (aiohttp), or a SQLite database in memory."""
    from sqlalchemy import make_url  # a cache miss: the whole stack is loaded anyway

    from callpop.journeys import sqlite_statements
    from crm_adapter.sql.reader import reader_path

    if config.crm.adapter != "sql":
        return None
    database = reader_path(make_url(config.database))
    if database is None:
        return None
    return ClassicSite(
        database=database,
        lookup_budget_ms=config.crm.lookup_budget_ms,
        phone_region=config.phone.default_region,
        international_prefixes=tuple(config.phone.international_prefixes),
        statements=sqlite_statements(),
        queue_state_max_age_s=config.queues.state_max_age_s,
    )


class SqliteDirectory:
    """The built-in CRM's lookups on one read-only WAL connection (`SqliteReader`)."""

    def __init__(self, reader: SqliteReader, phone: Callable[[], PhoneNormaliser]) -> None:
        self._reader = reader
        self._phone_factory = phone
        self._phone: PhoneNormaliser | None = None

    def _rows(self, sql: str, value: Any) -> list[Any]:
        try:
            return self._reader.rows(sql, (value,))
        except sqlite3.Error as exc:
            raise CrmUnavailable(f"database: {exc}") from exc

    async def find_by_phone(self, phone: str) -> list[Customer]:
        if self._phone is None:
            self._phone = self._phone_factory()
        e164 = self._phone.normalise(phone)
        if e164 is None:
            return []
        return customers_from_rows(self._rows(FIND_BY_PHONE["sqlite"], e164))

    async def find_by_account(self, account: str) -> list[Customer]:
        wanted = account.strip()
        if not wanted or len(wanted) > LIMITS["account"]:
            return []
        return customers_from_rows(self._rows(BY_ACCOUNT["sqlite"], wanted))

    async def open_cases(self, customer_id: str) -> list[Case]:
        cid = customer_id_of(customer_id)
        if cid is None:
            return []
        return [
            Case(
                id=str(r[0]),
                customer_id=customer_id,
                subject=r[1],
                status=r[2],
                opened=datetime.fromisoformat(r[3]).replace(tzinfo=UTC),
            )
            for r in self._rows(OPEN_CASES["sqlite"], cid)
        ]


class SqliteJourneys:
    """`JourneyStore.save` for one journey, through sqlite3: the same function writes
    it (`write_sqlite`), with this module's conversions, so the rows are the same."""

    def __init__(
        self,
        database: str,
        statements: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._database = database
        self._form = SqliteForm(statements)
        self._clock = clock

    async def save(self, journey: Journey, data: Mapping[str, Any] | None = None) -> None:
        data = journey.to_dict() if data is None else data
        conn = connect(self._database)
        try:
            write_sqlite(conn, [(journey, data)], self._clock(), self._form)
        finally:
            conn.close()


# `QueueStateStore.read`, `FloodStore.get` and `CallbackStore.request` (SQLAlchemy, in
# `serve`) as plain SQLite statements; tests/callpop/test_classic_services.py checks that
# they read and write what those do.
QUEUE_STATES = (
    "SELECT queue, callers, longest_wait_s, logged_in, available, paused, ewt_s, open, full,"
    " updated_at, seen_at FROM queue_states"
)
QUEUE_FIELDS = ("callers", "longest_wait_s", "logged_in", "available", "paused", "ewt_s")
FLOOD = "SELECT active, message FROM flood_mode WHERE id = 1"
CALLBACK_POSITION = "SELECT position FROM callbacks WHERE call_id = ?"
CALLBACK_INSERT = (
    "INSERT INTO callbacks (call_id, queue, number, caller_name, waited_s, requested_at,"
    " position, state, attempts, next_attempt_at, placed_by, interface, channel_id, result,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 'pending', 0, ?, '', '', '', '', ?)"
)
CALLBACK_AHEAD = (
    "SELECT count(*) FROM callbacks WHERE queue = ? AND state IN ({}) AND id <= ?".format(
        ", ".join(f"'{state}'" for state in WAITING)
    )
)
CALLBACK_PLACE = "UPDATE callbacks SET position = ? WHERE id = ?"
# `SurveyStore.record` in one statement: a replayed answer updates its row.
SURVEY_ANSWER = (
    "INSERT INTO survey_answers (call_id, flow, survey, question, position, score, queue,"
    " interface, member_name, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (call_id, flow, survey, question, interface)"
    " DO UPDATE SET score = excluded.score, answered_at = excluded.answered_at"
)


def queue_fields(
    rows: list[Any], now: datetime, max_age_s: float
) -> dict[str, dict[str, QueueValue]]:
    """`QueueStateReader.read`'s answer from `QUEUE_STATES` rows: a row not vouched for
    within `max_age_s` is left out (unknown), `longest_wait_s` brought forward to `now`
    while callers wait. No log line for a stale one: a process serves one call, and
    `serve`'s wallboard and writer say it once per change."""
    found: dict[str, dict[str, QueueValue]] = {}
    for row in rows:
        seen = datetime.fromisoformat(row[10]).replace(tzinfo=UTC)
        if (now - seen).total_seconds() > max_age_s:
            continue
        fields: dict[str, QueueValue] = dict(zip(QUEUE_FIELDS, row[1:7], strict=True))
        fields["open"], fields["full"] = bool(row[7]), bool(row[8])
        if row[1]:
            updated = datetime.fromisoformat(row[9]).replace(tzinfo=UTC)
            fields["longest_wait_s"] = row[2] + max(0, int((now - updated).total_seconds()))
        found[row[0]] = fields
    return found


class SqliteCallbacks:
    """`CallbackStore.request` through sqlite3: the same row, the same position, the
    same answer to a replay. The write lock is taken at BEGIN, so no other request can
    slip between the check and the insert (`CallbackStore` retries on the unique call
    id instead); the lock is waited for at most the lookup budget."""

    def __init__(self, database: str, budget_ms: int, *, clock: Callable[[], datetime]) -> None:
        self._database = database
        self._budget_ms = budget_ms
        self._clock = clock

    def request(
        self, *, call_id: str, queue: str, number: str, caller_name: str, waited_s: float
    ) -> int:
        check_request(call_id=call_id, queue=queue, number=number, call_id_limit=LIMITS["call_id"])
        now = self._clock()
        at = sqlite_time(now)
        values = [call_id, queue, number, printable(caller_name, 200), max(0, round(waited_s))]
        conn = connect(self._database, busy_timeout_ms=self._budget_ms)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                stored = conn.execute(CALLBACK_POSITION, [call_id]).fetchone()
                if stored is not None:
                    conn.execute("COMMIT")
                    return int(stored[0])
                new_id = conn.execute(CALLBACK_INSERT, [*values, at, at, at]).lastrowid
                (position,) = conn.execute(CALLBACK_AHEAD, [queue, new_id]).fetchone()
                conn.execute(CALLBACK_PLACE, [position, new_id])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return int(position)


class ClassicServices:
    """`CallServices` for one call of the classic script (see the module's doc)."""

    def __init__(
        self,
        site: ClassicSite,
        reader: SqliteReader,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._site = site
        self._reader = reader
        self._clock = clock
        self._budget_s = site.lookup_budget_ms / 1000
        self._callbacks = SqliteCallbacks(site.database, site.lookup_budget_ms, clock=clock)
        self._directory = SqliteDirectory(reader, lambda: _normaliser(site))
        self._journeys = SqliteJourneys(site.database, site.statements)
        self._lookup_watch = LookupWatch()

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        outcome = await lookup_within_budget(
            self._directory, by, value, self._budget_s, concurrency=SEQUENTIAL
        )
        self._lookup_watch.record(outcome)
        return outcome.finished(at_ms)

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        # The same rows and lockout as `serve`'s store (callpop/classic_pins.py).
        from callpop.classic_pins import SqlitePins  # argon2: for a PIN check only

        pins = SqlitePins(
            self._site.database,
            self._site.lookup_budget_ms,
            clock=self._clock,
            stored_time=sqlite_time,
        )
        status, failure = await pin_within_budget(
            pins, customer_id, pin, _PIN_BUDGET_S, concurrency=SEQUENTIAL
        )
        if failure:
            log.warning("PIN check failed (%s); the caller goes to the pin node's failure", failure)
        return PinChecked(status, at_ms)

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        if not queues:
            return QueuesLooked(at_ms)
        marks = ", ".join("?" * len(queues))
        try:
            rows = self._reader.rows(f"{QUEUE_STATES} WHERE queue IN ({marks})", queues)
        except sqlite3.Error as exc:  # absent is what `serve` answers before its first read
            log.warning("queue state not read: %s; queue.Q.X is null", exc)
            return QueuesLooked(at_ms)
        fresh = queue_fields(rows, self._clock(), self._site.queue_state_max_age_s)
        return QueuesLooked(at_ms, fresh)

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        try:
            rows = self._reader.rows(FLOOD, ())
        except sqlite3.Error as exc:  # off, as `serve`'s reader before its first read
            log.warning("flood switch not read: %s; flood mode taken as off", exc)
            return FloodLooked(at_ms)
        if not rows:
            return FloodLooked(at_ms)
        return FloodLooked(at_ms, bool(rows[0][0]), rows[0][1])

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        number = _normaliser(self._site).normalise(request.number)
        if number is None:
            return CallbackRequested(CallbackStatus.INVALID_NUMBER, at_ms)
        try:
            position = self._callbacks.request(
                call_id=call_id,
                queue=request.queue,
                number=number,
                caller_name=request.caller_name,
                waited_s=request.waited_s,
            )
        except (sqlite3.Error, ValueError) as exc:  # the caller keeps their line
            log.warning("callback request not stored (%s); the caller keeps their line", exc)
            return CallbackRequested(CallbackStatus.UNAVAILABLE, at_ms)
        return CallbackRequested(CallbackStatus.STORED, at_ms, max(position, 1), number)

    async def record_survey_answer(
        self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime
    ) -> None:
        """`ivr.survey.SurveyServices` through sqlite3, the row `SurveyStore` writes; a
        store that fails loses the answer, logged (a process serves one call)."""
        values = [
            leg.call_id[: LIMITS["call_id"]],
            answer.flow,
            answer.survey,
            answer.question,
            answer.position,
            answer.score,
            printable(leg.queue, 128),
            printable(leg.interface, 128),
            printable(leg.member_name, 200),
            sqlite_time(at),
        ]
        try:
            conn = connect(self._site.database, busy_timeout_ms=self._site.lookup_budget_ms)
            try:
                conn.execute(SURVEY_ANSWER, values)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.warning("survey answer not stored (%s); the caller goes on with the survey", exc)

    def publish(self, event: CallEvent) -> None:
        pass  # nobody listens in this process; the pop follows the journey in the database

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        await self._journeys.save(journey, data)


def _normaliser(site: ClassicSite) -> PhoneNormaliser:
    from crm_adapter.phone import PhoneNormaliser  # phonenumbers: for a lookup by phone only

    return PhoneNormaliser(site.phone_region, site.international_prefixes)
