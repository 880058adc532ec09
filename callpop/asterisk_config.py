"""`callpop asterisk-config`: the Asterisk side of a callpop site, as config snippets.

Pure: a `Site` (what callpop knows: its flows, queues, addresses) in, file name ->
text out. The shapes follow design.md ("Asterisk side") and the configuration the
reference Asterisk 22 ran with (tests/fixtures/asterisk/agi/TRANSCRIPTS.md):

- extensions.conf: one entry context per flow (`callpop-FLOW`, extension `s`), which
  clears CALLPOP_OUTCOME, runs the IVR (FastAGI by default; the classic AGI script and
  ARI lines are there, commented), then goes on at `callpop-route,${CALLPOP_OUTCOME},1`,
  or at `operator` when the outcome is empty (callpop unreachable: AGISTATUS FAILURE,
  STASISSTATUS FAILED; AGISTATUS alone is not the test, a session that played one
  missing prompt also ends in FAILURE). `callpop-route` has one extension per outcome,
  `queue` running `Queue(${CALLPOP_QUEUE},tc,,,,agi://HOST:PORT/connected)` for the pop on
  answer; option `c` keeps the caller in the dialplan when the agent hangs up
  (app_queue then sets QUEUESTATUS=CONTINUE, and only then), and `survey` runs the
  post-call survey (FastAGI `/survey`) when the IVR left CALLPOP_SURVEY, else hangs up.
  `callpop-agents` maps `Local/NNNN@callpop-agents/n` members to phones.
- queues.conf: one section per queue, with `setinterfacevar`, `setqueuevar` and
  `setqueueentryvar` so the connect AGI sees MEMBERINTERFACE, QUEUENAME and QEHOLDTIME
  (queue-connected-agi-without-setinterfacevar.txt shows them unset otherwise).
- manager.conf: `channelvars = CALLPOP_CALL_ID` and the AMI user; ari.conf, http.conf.

Secrets are never written: passwords are placeholders naming the file callpop reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from callpop.ami_filter import EVENT_FILTERS
from ivr import variables as v
from ivr.catalog import Queue, QueueCatalog
from ivr.flow import ENTRY_FLOW, Flow, TransferNode

if TYPE_CHECKING:
    from callpop.config import Config

__all__ = ["FILES", "AriSite", "Site", "render", "site_from", "stream"]

FILES: Final = ("extensions.conf", "queues.conf", "manager.conf", "ari.conf", "http.conf")
ROUTE_CONTEXT: Final = "callpop-route"
AGENTS_CONTEXT: Final = "callpop-agents"
QUEUES_CONTEXT: Final = "callpop-queues"
# Everything interpolated into a config line is one of ours, checked to be plain.
_PLAIN = re.compile(r"^[A-Za-z0-9_.@/+:-]{1,200}$")


def _plain(value: str, what: str) -> str:
    if not _PLAIN.match(value):
        raise ValueError(f"{what} {value!r} cannot go into an Asterisk config line")
    return value


@dataclass(frozen=True, slots=True)
class AriSite:
    username: str = "callpop"
    app: str = "callpop"
    http_host: str = "127.0.0.1"
    http_port: int = 8088
    password_file: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """What the snippets are made from. `agi_host` is the address Asterisk reaches
    callpop's FastAGI server at; `python` and `config_file` make the classic AGI line."""

    flows: Sequence[str]
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    queues: Mapping[str, Queue | None] = field(default_factory=dict)
    operator_queue: str = "operator"
    python: str = "/usr/bin/python3"
    config_file: str = "/etc/callpop/callpop.yaml"
    ami_username: str = "callpop"
    ami_secret_file: str | None = None
    ari: AriSite | None = None
    internal_context: str = "default"
    callback_context: str = "callpop-callback"

    def agi_url(self, route: str) -> str:
        host = f"[{self.agi_host}]" if ":" in self.agi_host else self.agi_host
        return f"agi://{host}:{self.agi_port}/{route}"


def site_from(
    config: Config,
    flows: Mapping[str, Flow],
    queue_catalog: QueueCatalog | None,
    *,
    python: str,
    agi_host: str | None = None,
    internal_context: str = "default",
) -> Site:
    """The site a config and its loaded dialplan describe. `queue_catalog` is the
    dialplan's `QueueCatalog` (queues.yaml), or None when it has none."""
    catalog_queues: dict[str, Queue | None] = (
        dict(queue_catalog.queues) if queue_catalog is not None else {}
    )
    named = {
        node.queue
        for flow in flows.values()
        for node in flow.nodes.values()
        if isinstance(node, TransferNode) and node.queue is not None
    }
    named |= {flow.settings.operator_queue for flow in flows.values()}
    if queue_catalog is not None:
        operator = queue_catalog.operator
    else:
        operator = flows[ENTRY_FLOW].settings.operator_queue if ENTRY_FLOW in flows else "operator"
    named.add(operator)
    queues = {**catalog_queues, **{q: None for q in sorted(named - set(catalog_queues))}}
    host = agi_host or config.fastagi.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: this machine at least reaches it
    ari = None
    if config.ari is not None:
        url = urlsplit(config.ari.url)
        ari = AriSite(
            username=config.ari.username,
            app=config.ari.app,
            http_host=url.hostname or "127.0.0.1",
            http_port=url.port or 8088,
            password_file=None
            if config.ari.password_file is None
            else str(config.ari.password_file),
        )
    ami = config.ami[0] if config.ami else None  # every Asterisk gets the same manager.conf user
    source = config.source.resolve() if config.source is not None else None
    return Site(
        flows=sorted(flows, key=lambda f: (f != ENTRY_FLOW, f)),
        agi_host=host,
        agi_port=config.fastagi.port,
        queues=queues,
        operator_queue=operator,
        python=python,
        config_file=str(source) if source else "/etc/callpop/callpop.yaml",
        ami_username=ami.username if ami else "callpop",
        ami_secret_file=str(ami.secret_file) if ami and ami.secret_file else None,
        ari=ari,
        internal_context=internal_context,
        callback_context=config.callbacks.context,
    )


def render(site: Site) -> dict[str, str]:
    """Every snippet, by file name (in FILES order)."""
    return {
        "extensions.conf": _extensions(site),
        "queues.conf": _queues(site),
        "manager.conf": _manager(site),
        "ari.conf": _ari(site),
        "http.conf": _http(site),
    }


def stream(files: Mapping[str, str]) -> str:
    """One text with a `; --- FILE ---` header before each file (each ends in "\n")."""
    return "".join(f"; --- {name} ---\n{text}" for name, text in files.items())


def _extensions(site: Site) -> str:
    connected = site.agi_url("connected")
    # After a call an agent hung up (QUEUESTATUS=CONTINUE, Queue option c): the survey.
    after_call = '$["${QUEUESTATUS}" = "CONTINUE"]?survey,1'
    classic_survey = ",".join(
        [
            _plain(site.python, "python path"),
            "-m",
            "callpop.agi_script",
            _plain(site.config_file, "config path"),
            "--survey",
        ]
    )
    out = [
        "; callpop: IVR entry contexts, the route the IVR leaves callers on, and agents.",
        "; Send a DID to a flow with Goto(callpop-main,s,1), or include the context.",
        "",
    ]
    for flow in site.flows:
        _plain(flow, "flow id")
        classic = ",".join(
            [
                _plain(site.python, "python path"),
                "-m",
                "callpop.agi_script",
                _plain(site.config_file, "config path"),
                flow,
            ]
        )
        app = site.ari.app if site.ari else "callpop"
        out += [
            f"[callpop-{flow}]",
            f"; The IVR flow {flow!r} (dialplan/flows/{flow}.yaml).",
            f"exten => s,1,NoOp(callpop flow {flow} for ${{CALLERID(all)}})",
            # callpop sets only the variables that have a value: a caller sent back into
            # the IVR must carry nothing over from the earlier pass (a stale outcome would
            # route them if callpop were unreachable, a stale VERIFIED vouch for them).
            *(f" same => n,Set({name}=)" for name in v.ALL),
            f" same => n,AGI({site.agi_url('ivr')}?flow={flow})",
            f";same => n,AGI({classic})  ; classic AGI instead (one process per call)",
            f";same => n,Stasis({_plain(app, 'ARI app')},flow={flow})  ; ARI instead",
            f' same => n,GotoIf($["${{{v.OUTCOME}}}" = ""]?{ROUTE_CONTEXT},operator,1)',
            f" same => n,Goto({ROUTE_CONTEXT},${{{v.OUTCOME}}},1)",
            "",
        ]
    operator = _plain(site.operator_queue, "operator queue")
    internal = _plain(site.internal_context, "context")
    out += [
        f"[{ROUTE_CONTEXT}]",
        f"; Where callers go when the IVR is done: the extension is ${{{v.OUTCOME}}}.",
        f"exten => queue,1,NoOp(callpop ${{{v.CALL_ID}}} to queue ${{{v.QUEUE}}})",
        f" same => n,Set(QUEUE_PRIO=${{{v.PRIORITY}}})",
        # The connect AGI pops the agent's screen on answer; it reads the queue and the
        # agent as variables (URL arguments are expanded before QUEUENAME is set).
        # Option c: when the agent hangs up the caller goes on here, to the survey.
        f" same => n,Queue(${{{v.QUEUE}}},tc,,,,{connected})",
        f" same => n,GotoIf({after_call})",
        f' same => n,GotoIf($["${{{v.QUEUE}}}" != "{operator}"]?operator,1)',
        " same => n,Hangup()",
        "",
        "; The agent hung up and the caller is still on the line: the post-call survey the",
        "; IVR chose (CALLPOP_SURVEY=FLOW/NAME), over FastAGI, AGI or ARI, or goodbye.",
        f'exten => survey,1,GotoIf($["${{{v.SURVEY}}}" = ""]?done)',
        f" same => n,NoOp(callpop ${{{v.CALL_ID}}} survey ${{{v.SURVEY}}} after ${{MEMBERINTERFACE}})",
        f" same => n,AGI({site.agi_url('survey')})",
        f";same => n,AGI({classic_survey})  ; classic AGI instead",
        f";same => n,Stasis({_plain(site.ari.app if site.ari else 'callpop', 'ARI app')},"
        f"survey=${{{v.SURVEY}}})  ; ARI instead",
        " same => n(done),Hangup()",
        "",
        f"exten => extension,1,NoOp(callpop ${{{v.CALL_ID}}} to extension ${{{v.TARGET}}})",
        f" same => n,Dial(Local/${{{v.TARGET}}}@{internal},30)",
        " same => n,Goto(operator,1)",
        "",
        f"exten => agent,1,NoOp(callpop ${{{v.CALL_ID}}} to agent ${{{v.TARGET}}})",
        f" same => n,Dial(${{{v.TARGET}}},30)",
        " same => n,Goto(operator,1)",
        "",
        f"exten => voicemail,1,VoiceMail(${{{v.TARGET}}},u)",
        " same => n,Hangup()",
        "",
        "exten => hangup,1,Hangup()",
        "",
        "; callpop failed for this call (it logged why): a person takes over.",
        "exten => error,1,Goto(operator,1)",
        "",
        "; The operator, and the fallback when callpop is unreachable: no caller is lost.",
        "exten => operator,1,NoOp(callpop operator for ${CALLERID(all)})",
        " same => n,Set(QUEUE_PRIO=0)",
        f" same => n,Queue({operator},tc,,,,{connected})",
        f" same => n,GotoIf({after_call})",
        " same => n,Hangup()",
        "",
        f"[{AGENTS_CONTEXT}]",
        "; Queue members written Local/NNNN@callpop-agents/n ring the phone PJSIP/NNNN.",
        "exten => _X.,1,Dial(PJSIP/${EXTEN},,t)",
        " same => n,Hangup()",
        "",
        f"[{_plain(site.callback_context, 'context')}]",
        "; Callbacks (docs/admin.md): callpop rings the agent first (AMI Originate, the",
        "; extension being the customer's number); once the agent answers, their leg runs",
        "; here and dials the customer through the internal context.",
        "exten => _X.,1,NoOp(callpop callback ${CALLPOP_CALLBACK} to ${EXTEN})",
        f" same => n,Dial(Local/${{EXTEN}}@{internal},30)",
        " same => n,Hangup()",
        "exten => _+X.,1,NoOp(callpop callback ${CALLPOP_CALLBACK} to ${EXTEN})",
        f" same => n,Dial(Local/${{EXTEN}}@{internal},30)",
        " same => n,Hangup()",
        "",
        f"[{QUEUES_CONTEXT}]",
        "; Blind transfers to a queue from the agent's panel (AMI BlindTransfer, Exten = the",
        "; queue): the caller joins it as the IVR would have sent them.",
    ]
    for name in site.queues:
        queue = _plain(name, "queue name")
        out += [
            f"exten => {queue},1,Set({v.QUEUE}={queue})",
            f" same => n,Goto({ROUTE_CONTEXT},queue,1)",
        ]
    out.append("")
    return "\n".join(out)


def _queues(site: Site) -> str:
    out = [
        "; callpop queues. setinterfacevar/setqueuevar/setqueueentryvar let the connect",
        "; AGI (agi://.../connected) read MEMBERINTERFACE, QUEUENAME and QEHOLDTIME.",
        "",
    ]
    for name, queue in site.queues.items():
        _plain(name, "queue name")
        out.append(f"[{name}]")
        if queue is not None and queue.description:
            out.append(f"; {' '.join(queue.description.split())}")
        out += ["setinterfacevar = yes", "setqueuevar = yes", "setqueueentryvar = yes"]
        if queue is None:
            out += [
                "strategy = ringall",
                "; member => PJSIP/101  (add this queue to dialplan/queues.yaml)",
            ]
        else:
            out += [
                f"strategy = {queue.strategy}",
                f"weight = {queue.weight}",
                f"timeout = {_seconds(queue.ring_timeout)}",
                f"wrapuptime = {_seconds(queue.wrapup)}",
                f"servicelevel = {_seconds(queue.service_level)}",
                f"musicclass = {queue.music_class}",
            ]
            out += [f"member => {_plain(m, 'queue member')}" for m in queue.members]
        out += ["joinempty = yes", "leavewhenempty = no", ""]
    return "\n".join(out)


def _seconds(ms: int) -> int:
    return max(0, -(-ms // 1000))


def _manager(site: Site) -> str:
    secret = site.ami_secret_file or "ami.secret_file in callpop.yaml"
    return "\n".join(
        [
            "; AMI for callpop's queue events (the screen-pop). Merge [general] with yours.",
            "[general]",
            "enabled = yes",
            # Every event then carries the call id: AMI events match calls by it.
            f"channelvars = {v.CALL_ID}",
            "",
            f"[{_plain(site.ami_username, 'AMI user')}]",
            f"secret = CHANGE_ME  ; the secret callpop reads from {secret}",
            "deny = 0.0.0.0/0.0.0.0",
            "permit = 127.0.0.1/255.255.255.255",
            "read = call,agent",  # queue events are `agent`, Dial/Hangup events `call`
            # `reporting`: CoreShowChannels, which every (re)login's resync asks (Asterisk
            # refuses it with "Permission denied" without); then the panel's controls:
            # click-to-dial (Originate), agent status (QueuePause), transfers (BlindTransfer,
            # Atxfer, Redirect are class `call`)
            "write = reporting,originate,agent,call",
            "; Only the events callpop reads (advanced filters: Asterisk 18.26, 20.11, 21.6,",
            "; 22.1 or later); without them Asterisk sends about twice as many, each one read,",
            "; parsed and dropped by callpop. Answers to callpop's actions are not filtered.",
            *(f.line() for f in EVENT_FILTERS),
            "",
        ]
    )


def _ari(site: Site) -> str:
    ari = site.ari or AriSite()
    where = ari.password_file or "ari.password_file in callpop.yaml"
    head = [] if site.ari else ["; ARI is off in callpop.yaml (no `ari:`); for when it is on."]
    return "\n".join(
        [
            *head,
            "[general]",
            "enabled = yes",
            "",
            f"[{_plain(ari.username, 'ARI user')}]",
            "type = user",
            "read_only = no",
            f"password = CHANGE_ME  ; the password callpop reads from {where}",
            "password_format = plain",
            "",
        ]
    )


def _http(site: Site) -> str:
    ari = site.ari or AriSite()
    return "\n".join(
        [
            "; Asterisk's HTTP server carries ARI (REST and the events websocket).",
            "[general]",
            "enabled = yes",
            f"bindaddr = {_plain(ari.http_host, 'ARI host')}",
            f"bindport = {int(ari.http_port)}",
            "",
        ]
    )
