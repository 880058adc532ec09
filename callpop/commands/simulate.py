"""`callpop simulate FLOW_FILE --caller NUMBER [--keys "1 2 #"] [--at ISO8601] [--crm ...] [--json]`

The engine with no PBX (`ivr.simulator`): the flow file and its sibling flows (for
`goto` into sub-flows) are loaded, a call is walked with the scripted keys, and the
steps and outcome are printed, for people or (`--json`) for tests and tools.
Without `--keys` the caller is you: each prompt is printed and your keys are read
from stdin, one line per listening point.

Exit 0 once the call ended (whatever its outcome), 1 for a flow that does not load
(every finding as `FILE:LINE:COL: error: MESSAGE [rule]` on stderr) or a key script
that cannot be played, 2 for bad usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import click

from ivr.catalog import CATALOG_FILES
from ivr.errors import FlowError
from ivr.events import LookupStatus, PinStatus, QueueValue
from ivr.flow import Flow
from ivr.journey import JourneyStep
from ivr.layout import dialplan_layout
from ivr.loader import (
    DialplanError,
    LoadError,
    load_flow_source,
    read_flow,
    read_schedules,
    with_schedules,
)
from ivr.simulator import (
    HANG_UP,
    SILENCE,
    SIMULATED_PIN,
    CallbackDesk,
    Crm,
    CrmAnswer,
    DownCrm,
    FakeCrm,
    KeyScriptError,
    ListeningPoint,
    NoCrm,
    ScriptedKeys,
    SimStep,
    Simulation,
    SurveySimulation,
    parse_keys,
    parse_queue,
    simulate,
    simulate_survey,
    stale_queue,
)
from ivr.source import Finding

if TYPE_CHECKING:
    from callpop.config import Config
    from crm_adapter.memory import InMemoryCrm
    from crm_adapter.phone import PhoneNormaliser

CRM_MODES = ("found", "none", "down", "db")


# --- loading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    flow_id: str
    flows: Mapping[str, Flow]
    sibling_findings: tuple[Finding, ...]
    """Problems of other flow files beside it: they matter only if the call goes there."""


def load(flow_file: Path) -> Loaded:
    """The flow file (strictly: raises `LoadError`) and the flows beside it, their
    `schedule:` names resolved from the dialplan's schedules.yaml (strictly too)."""
    main = load_flow_source(flow_file).model
    flows: dict[str, Flow] = {main.id: main}
    findings: list[Finding] = []
    for sibling in sorted(flow_file.parent.glob("*.yaml")):
        if sibling.name in CATALOG_FILES or sibling.stem == main.id or sibling.is_dir():
            continue
        loaded, problems = read_flow(sibling)
        findings += problems
        if loaded is not None:
            flows[loaded.model.id] = loaded.model
    schedules, problems = read_schedules(dialplan_layout(flow_file.parent)[0])
    if problems:
        raise DialplanError(problems)
    if schedules is not None:
        flows = {flow_id: with_schedules(flow, schedules.model) for flow_id, flow in flows.items()}
    return Loaded(main.id, flows, tuple(findings))


# --- the CRM ----------------------------------------------------------------------------


class AdapterCrm:
    """The simulator's `Crm` over a real, async `crm_adapter` adapter.

    The simulation runs in a worker thread (it is synchronous and may wait for a
    person typing); each lookup is handed to the event loop that owns the adapter's
    connections and waited for within the lookup budget, as a live call would."""

    def __init__(
        self,
        adapter: Any,
        loop: asyncio.AbstractEventLoop,
        budget_ms: int,
        *,
        pin: str | None = None,
    ) -> None:
        self._adapter = adapter
        self._loop = loop
        self._budget_ms = budget_ms
        self._pin = pin

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        """A file's customers all have `--pin`; the configured CRM is not asked: a
        simulated wrong PIN would count against a real customer's lockout."""
        if self._pin is None:
            return PinStatus.UNAVAILABLE
        return PinStatus.VERIFIED if pin == self._pin else PinStatus.WRONG

    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer:
        started = time.perf_counter()
        future = asyncio.run_coroutine_threadsafe(self._find(by, value), self._loop)
        try:
            view, candidates = future.result()
        except Exception:  # the adapter's errors are CrmError; a timeout is TimeoutError
            return CrmAnswer(LookupStatus.UNAVAILABLE, took_ms=self._budget_ms)
        took = min(self._budget_ms, round((time.perf_counter() - started) * 1000))
        if not candidates:
            return CrmAnswer(LookupStatus.NOT_FOUND, took_ms=took)
        # Several candidates: no customer, as a live lookup answers (the engine routes on
        # none of them), only how many and who.
        return CrmAnswer(LookupStatus.FOUND, view, len(candidates), took, candidates)

    async def _find(self, by: str, value: str) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
        from crm_adapter.port import customer_view

        async def find() -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
            finder = self._adapter.find_by_phone if by == "phone" else self._adapter.find_by_account
            customers = await finder(value)
            candidates = tuple(c.id for c in customers)
            if len(customers) != 1:
                return None, candidates
            cases = await self._adapter.open_cases(customers[0].id)
            return customer_view(customers[0], open_cases=len(cases)), candidates

        return await asyncio.wait_for(find(), self._budget_ms / 1000)


def _site_config(config_path: Path | None) -> Config:
    from callpop.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _number_check(config_path: Path | None) -> Callable[[str], str | None]:
    """The site's callback number check: its `phone:` settings, as `serve` uses them."""
    return _site_config(config_path).phone.normaliser().normalise


async def _with_database(config_path: Path | None, run: Any) -> Simulation:
    """Open the configured CRM adapter, run the simulation beside its loop, close it."""
    from callpop.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config.crm.adapter != "sql":
        raise click.ClickException(
            "--crm db supports the sql adapter only for now; use --crm found, none or down"
        )
    from crm_adapter.sql.engine import create_engine
    from crm_adapter.sql.store import SqlStore

    engine = create_engine(config.database)
    store = SqlStore(engine, config.phone.normaliser())
    try:
        crm = AdapterCrm(store, asyncio.get_running_loop(), config.crm.lookup_budget_ms)
        result: Simulation = await asyncio.to_thread(run, crm)
        return result
    finally:
        await store.aclose()
        await engine.dispose()


def file_crm(path: Path, phone: PhoneNormaliser) -> InMemoryCrm:
    """The customers of a CSV in `callpop crm import`'s format, in memory: any row
    the import would reject is an error here, so a simulation never runs on half a
    file."""
    from crm_adapter.importer import ImportFileError, Rejection, read_rows
    from crm_adapter.memory import InMemoryCrm
    from crm_adapter.port import CustomerDraft

    crm = InMemoryCrm(phone=phone)
    try:
        for row in read_rows(path, phone):
            if isinstance(row, Rejection):
                raise click.ClickException(f"{path}:{row.line}: {row.reason}")
            crm.add_customer(
                CustomerDraft(
                    name=row.name,
                    phones=row.phones,
                    external_id=row.external_id,
                    account=row.account,
                    tier=row.tier,
                    language=row.language,
                    email=row.email,
                )
            )
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    return crm


async def _with_adapter(adapter: Any, budget_ms: int, pin: str, run: Any) -> Simulation:
    """Run the simulation beside the loop that owns an in-memory adapter."""
    crm = AdapterCrm(adapter, asyncio.get_running_loop(), budget_ms, pin=pin)
    result: Simulation = await asyncio.to_thread(run, crm)
    return result


def crm_for(mode: str, *, tier: str, open_cases: int, pin: str = SIMULATED_PIN) -> Crm:
    if mode == "found":
        return FakeCrm(tier=tier, open_cases=open_cases, pin=pin)
    if mode == "down":
        return DownCrm()
    return NoCrm()


# --- the interactive caller ------------------------------------------------------------


class TerminalCaller:
    """A `KeySource` that is a person at a terminal: shows the prompts, reads a line."""

    def __init__(self, stdin: IO[str], out: IO[str]) -> None:
        self._stdin = stdin
        self._out = out

    def next_token(self, point: ListeningPoint) -> str | None:
        _echo_prompts(point.prompts, self._out)
        while True:
            self._out.write(
                f"[{point.node}] keys (Enter or {SILENCE}: stay silent, {HANG_UP}: hang up)> "
            )
            self._out.flush()
            line = self._stdin.readline()
            if not line:
                self._out.write("\n")
                return None
            text = line.strip() or SILENCE
            try:
                tokens = parse_keys(text)
            except KeyScriptError as exc:
                self._out.write(f"  {exc}\n")
                continue
            if len(tokens) != 1:
                self._out.write("  one answer at a time, please (e.g. 1, or 12345678#)\n")
                continue
            return tokens[0]


def _echo_prompts(prompts: Any, out: IO[str]) -> None:
    for prompt in prompts:
        spoken = prompt.text or f"[{prompt.sound}]"
        out.write(f"  ♪ {spoken}\n")


# --- output -----------------------------------------------------------------------------


def _seconds(ms: int) -> str:
    return f"{ms / 1000:6.1f}s"


WIDTH = 100
_INDENT = " " * 10


def _wrapped(first: str, rest: str = "") -> list[str]:
    """`first` then `rest` on as many lines as it takes, continuation lines indented."""
    text = f"{first} {rest}".rstrip()
    return textwrap.wrap(text, WIDTH, subsequent_indent=_INDENT, break_on_hyphens=False) or [first]


def describe_step(step: SimStep) -> list[str]:
    """A step as lines for people."""
    head = f"{_seconds(step.t_ms)}  {step.flow}:{step.node}"
    said = " ".join(f"“{p.text}”" if p.text else f"[{p.sound}]" for p in step.prompts)
    if step.action == "play":
        return _wrapped(f"{head}  plays", said)
    if step.action == "lookup":
        result = (step.event or "").replace("_", " ")
        return _wrapped(f"{head}  CRM lookup by {step.detail}:", result)
    if step.action == "queue-lookup":
        return _wrapped(f"{head}  queue state:", step.detail or "")
    if step.action == "pin-check":
        result = (step.event or "").replace("_", " ")
        return _wrapped(f"{head}  PIN check for {step.detail}:", result)
    if step.action == "flood-lookup":
        return _wrapped(f"{head}  flood switch:", step.detail or "")
    if step.action == "answer":
        return [f"{head}  stores answer {step.detail} = {step.keys}"]
    if step.action == "callback":
        result = (step.event or "").replace("_", " ")
        return _wrapped(f"{head}  callback request {step.detail}:", result)
    if step.action == "collect":
        if step.event == "hangup":
            answer = "the caller hangs up"
        elif step.keys:
            answer = f"the caller presses {step.keys}" + (
                " (then waits)" if step.event == "timeout" else ""
            )
        else:
            answer = "the caller says nothing (timeout)"
        return [*_wrapped(f"{head}  asks", said), f"{_INDENT}→ {answer}"]
    verb = "transfers to" if step.action == "transfer" else "hangs up"
    target = f" {step.detail}" if step.detail else ""
    return _wrapped(f"{head}  {verb}{target}", f"after {said}" if said else "")


_DECISIONS = {"hours": "business hours:", "branch": "branch:", "goto": "goes to", "play": "skips"}


def _decision(step: JourneyStep, following: JourneyStep | None) -> list[str]:
    """A node the call passed through without waiting (hours, branch, goto, a skipped
    announcement): it has no simulator step, but the journey says how it went."""
    if step.kind not in _DECISIONS or (step.kind == "play" and step.result != "skipped"):
        return []
    result = step.result or ""
    if step.kind == "branch":
        result = (
            "no case holds" if result == "default" else result.replace("case-", "case ") + " holds"
        )
    elif step.kind == "goto":
        result = f"{following.flow}:{following.node}" if following is not None else ""
    elif step.kind == "play":
        result = "it (the caller typed ahead)"
    return _wrapped(
        f"{_seconds(step.entered_ms)}  {step.flow}:{step.node}  {_DECISIONS[step.kind]}", result
    )


def describe(sim: Simulation) -> list[str]:
    lines = [f"Call to flow {sim.flow} from {sim.caller or 'an unknown number'}"]
    visits = sim.journey.steps
    at = 0
    for step in sim.steps:
        # Journey steps up to this node's visit, in order, show the decisions between.
        while at < len(visits) and (visits[at].flow, visits[at].node) != (step.flow, step.node):
            lines += _decision(visits[at], visits[at + 1] if at + 1 < len(visits) else None)
            at += 1
        lines += describe_step(step)
    lines += describe_outcome(sim)
    return lines


def describe_outcome(sim: Simulation) -> list[str]:
    o = sim.outcome
    if o.type == "transfer":
        what = f"transfer to {o.kind} {o.target}" + (
            f", priority {o.priority}" if o.priority else ""
        )
    else:
        what = "hang-up"
    reason = f" ({o.reason})" if o.reason else ""
    lines = [f"Outcome: {what}{reason}"]
    lines += [f"  {name}={value}" for name, value in o.variables.items()]
    if sim.unused_keys:
        lines.append(
            f"Note: the call ended before these keys were used: {' '.join(sim.unused_keys)}"
        )
    return lines


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-11-23T14:30-05:00", param_hint="--at"
        ) from None
    if at.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no UTC offset; hours depend on it: write e.g. "
            f"{value}-05:00 or {value}Z",
            param_hint="--at",
        )
    return at


# --- the command ------------------------------------------------------------------------


@click.command("simulate")
@click.argument("flow_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--caller",
    "caller",
    default=None,
    help="the caller's number (caller ID); required but with --replay",
)
@click.option(
    "--keys",
    default=None,
    help='one token per listening point, split on spaces or commas: "1 2 #", "1,4000000002#,1"; '
    f"{SILENCE} = let it time out, {HANG_UP} = hang up. Without it: interactive",
)
@click.option(
    "--at", "at", default=None, help="the call's time, ISO 8601 with offset (default: now)"
)
@click.option(
    "--crm",
    "crm_mode",
    default="none",
    show_default=True,
    metavar="found|none|down|db|FILE",
    help="lookups: found (a made-up customer), none (not found), down (unavailable), "
    "db (the configured CRM), or a customer CSV as `callpop crm import` reads it "
    "(several customers may share a number)",
)
@click.option(
    "--tier", default="standard", show_default=True, help="tier of the --crm found customer"
)
@click.option(
    "--open-cases",
    default=0,
    type=click.IntRange(min=0),
    help="open cases of the --crm found customer",
)
@click.option(
    "--pin",
    default=SIMULATED_PIN,
    show_default=True,
    help="the PIN of the --crm found customer and of a --crm FILE's customers, for pin "
    "nodes (--crm db does not check PINs: a wrong one would count against a real customer)",
)
@click.option("--name", "caller_name", default="", help="the caller ID name")
@click.option("--dnis", default="", help="the number the caller dialled")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="callpop.yaml, for --crm db (also a global option)",
)
@click.option("--json", "as_json", is_flag=True, help="print the run as JSON")
@click.option(
    "--queue",
    "queue_specs",
    multiple=True,
    metavar="Q:FIELD=V,...",
    help="a queue's state for queue.Q.X conditions, e.g. billing:ewt=900,available=0 "
    "(repeatable; fields not given are unknown, the queue open); billing:stale for state "
    "older than queues.state_max_age_s (AMI lost), read as unknown",
)
@click.option(
    "--flood",
    "flood_message",
    metavar="MESSAGE",
    help="flood mode on with this message, as `callpop flood on --message` sets it",
)
@click.option(
    "--callbacks-ahead",
    type=click.IntRange(0, 100_000),
    default=0,
    show_default=True,
    help="callbacks already pending in the queue (the caller's position is one more)",
)
@click.option(
    "--survey-keys",
    default=None,
    help="after a transfer with a survey, the agent hangs up and the caller answers the "
    'survey with these keys, one token per question: "5 4 w" (w silence, h hang up)',
)
@click.option(
    "--agent",
    default="PJSIP/101",
    show_default=True,
    help="with --survey-keys: the agent's interface (MEMBERINTERFACE) the answers rate",
)
@click.option(
    "--replay",
    "replay_call",
    default=None,
    metavar="CALL_ID",
    help="replay a stored call's keys (from the configured database) and show where it diverges",
)
@click.option(
    "--on",
    "replay_on",
    default="auto",
    show_default=True,
    help="with --replay: original (the version the call ran on), current, or any version "
    "callpop diff takes; auto = original when its files can be found, else current",
)
@click.pass_context
def command(
    ctx: click.Context,
    flow_file: Path,
    caller: str | None,
    keys: str | None,
    at: str | None,
    crm_mode: str,
    tier: str,
    open_cases: int,
    pin: str,
    caller_name: str,
    dnis: str,
    config_path: Path | None,
    as_json: bool,
    queue_specs: tuple[str, ...],
    flood_message: str | None,
    callbacks_ahead: int,
    survey_keys: str | None,
    agent: str,
    replay_call: str | None,
    replay_on: str,
) -> None:
    """Walk FLOW_FILE as a caller would, with no Asterisk (or replay a stored call)."""
    if replay_call is not None:
        replay_command(ctx, flow_file, replay_call, replay_on, config_path, as_json)
        return
    if caller is None:
        raise click.UsageError("Missing option '--caller' (the caller's number).")
    crm_file = None
    if crm_mode not in CRM_MODES:
        crm_file = Path(crm_mode)
        if not crm_file.is_file():
            raise click.BadParameter(
                f"{crm_mode!r} is none of {', '.join(CRM_MODES)}, nor a customer CSV file",
                param_hint="--crm",
            )
    now = _parse_at(at)
    if flood_message is not None:
        from callpop.flood import check_message

        try:
            check_message(flood_message)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--flood") from None
    queues: dict[str, dict[str, QueueValue]] = {}
    stale: set[str] = set()
    for spec in queue_specs:
        stale_name = stale_queue(spec)
        if stale_name is not None:
            stale.add(stale_name)
            continue
        try:
            name, fields = parse_queue(spec)
        except KeyScriptError as exc:
            raise click.BadParameter(f"{spec!r}: {exc}", param_hint="--queue") from None
        queues[name] = fields
    try:
        loaded = load(flow_file)
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        sys.exit(1)
    survey_script = None
    if survey_keys is not None:
        try:
            survey_script = ScriptedKeys(parse_keys(survey_keys))
        except KeyScriptError as exc:
            raise click.BadParameter(str(exc), param_hint="--survey-keys") from None
    script = None
    if keys is not None:
        try:
            script = ScriptedKeys(parse_keys(keys))
        except KeyScriptError as exc:
            raise click.BadParameter(str(exc), param_hint="--keys") from None
    # An interactive run talks on stdout, unless stdout is for the JSON document.
    talk = sys.stderr if as_json else sys.stdout
    key_source = script if script is not None else TerminalCaller(sys.stdin, talk)

    def observe(step: SimStep) -> None:
        if script is None and step.action != "collect":
            talk.write("\n".join(describe_step(step)) + "\n")
            talk.flush()

    def run(crm: Crm) -> Simulation:
        return simulate(
            loaded.flows,
            flow_id=loaded.flow_id,
            caller=caller,
            caller_name=caller_name,
            dnis=dnis,
            keys=key_source,
            crm=crm,
            now=now,
            observer=observe,
            queues=queues,
            stale=frozenset(stale),
            flood=flood_message,
            callbacks=CallbackDesk(
                _number_check(config_path or (ctx.obj or {}).get("config_path")), callbacks_ahead
            ),
        )

    try:
        config = config_path or (ctx.obj or {}).get("config_path")
        if crm_mode == "db":
            sim = asyncio.run(_with_database(config, run))
        elif crm_file is not None:
            site = _site_config(config)
            customers = file_crm(crm_file, site.phone.normaliser())
            sim = asyncio.run(_with_adapter(customers, site.crm.lookup_budget_ms, pin, run))
        else:
            sim = run(crm_for(crm_mode, tier=tier, open_cases=open_cases, pin=pin))
    except KeyScriptError as exc:
        raise click.ClickException(f"--keys: {exc}") from None
    except FlowError as exc:
        for finding in loaded.sibling_findings:
            click.echo(finding.format(), err=True)
        raise click.ClickException(
            f"the flow cannot run: {exc} (run `callpop lint` on it)"
        ) from None

    survey = None
    if survey_script is not None:
        survey = _walk_survey(loaded.flows, sim, survey_script, agent, now)
    if as_json:
        document = sim.to_dict()
        if survey is not None:
            document["survey"] = survey.to_dict()
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif script is not None:
        click.echo("\n".join(describe(sim) + describe_survey(survey)))
    else:
        click.echo("\n".join(describe_outcome(sim) + describe_survey(survey)), file=talk)


def _walk_survey(
    flows: Mapping[str, Flow], sim: Simulation, keys: ScriptedKeys, agent: str, now: datetime
) -> SurveySimulation:
    """`--survey-keys`: the survey the call's transfer chose, once the agent hung up."""
    from ivr import variables as v

    ref = sim.outcome.variables.get(v.SURVEY)
    if not ref:
        where = f"{sim.outcome.kind} {sim.outcome.target}" if sim.outcome.kind else "a hang-up"
        raise click.ClickException(
            f"--survey-keys: the call ended in {where}, with no survey (a queue transfer "
            "with survey: sets one)"
        )
    try:
        return simulate_survey(
            flows, ref, keys=keys, now=now, queue=sim.outcome.target or "", agent=agent
        )
    except KeyScriptError as exc:
        raise click.ClickException(f"--survey-keys: {exc}") from None


def describe_survey(survey: SurveySimulation | None) -> list[str]:
    if survey is None:
        return []
    lines = [
        "",
        f"The agent {survey.agent} hangs up; the caller stays for survey {survey.ref} "
        f"(queue {survey.queue})",
    ]
    for step in survey.steps:
        lines += describe_step(step)
    scores = ", ".join(f"{a.question} {a.score}" for a in survey.answers) or "none"
    lines.append(f"Survey: {survey.end}; answers stored: {scores}")
    if survey.unused_keys:
        lines.append(
            f"Note: the survey ended before these keys were used: {' '.join(survey.unused_keys)}"
        )
    return lines


def replay_command(
    ctx: click.Context,
    flow_file: Path,
    call_id: str,
    on: str,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """`--replay CALL_ID`: exit 0 when the replay follows the stored call, 1 when they diverge
    (or the call, the version or the configuration cannot be found)."""
    from callpop.commands.common import load_or_exit
    from callpop.replay import ReplayError, describe_replay, fetch_journey, replay_target
    from ivr.replay import replay

    if config_path is not None:
        ctx.obj = {**(ctx.obj or {}), "config_path": config_path}
    config = load_or_exit(ctx, "simulate")
    try:
        journey = fetch_journey(config.database, call_id)
        with replay_target(flow_file, journey, on) as target:
            if journey.get("flow") not in target.flows:
                raise ReplayError(
                    f"call {call_id} entered flow {journey.get('flow')!r}, which {target.name} does not have"
                )
            result = replay(target.flows, journey)
    except (ReplayError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        raise click.ClickException(
            "the version to replay on does not load (run callpop lint)"
        ) from None
    if as_json:
        divergence = result.divergence
        document = {
            "call_id": call_id,
            "on": target.name,
            "stored": [asdict(s) for s in result.stored],
            "replayed": [asdict(s) for s in result.replayed],
            "outcome": {"stored": result.stored_outcome, "replayed": result.replayed_outcome},
            "divergence": None
            if divergence is None
            else {"step": divergence.index + 1, "reason": divergence.reason},
            "notes": result.notes,
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(describe_replay(call_id, journey, target, result)))
    sys.exit(0 if result.divergence is None else 1)
