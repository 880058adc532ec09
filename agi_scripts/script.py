"""The classic process-per-call AGI script, for sites that cannot use FastAGI.

    exten => 7000,1,AGI(/opt/callpop/.venv/bin/python,-m,callpop.agi_script,/etc/callpop/callpop.yaml,main)

(`callpop asterisk-config` emits that line with this installation's paths.) Asterisk
runs the program with the config path and the flow as arguments and speaks AGI on its
stdin/stdout. The script runs the same engine through the same runner and the same
route code as the FastAGI server (`IvrHandler`), over the same codec and `AgiChannel`;
only the process around them differs.

Built on pyst2's `asterisk.agi.AGI`, which reads the environment block and installs a
SIGHUP handler (Asterisk signals a hang-up to a script with SIGHUP, not a `HANGUP`
line). Its command methods are not used: its `get_result` cannot tell GET DATA's
`200 result= (timeout)` from `#` (get-data.txt), raises on the `-1` of a merely
missing prompt, and its `_quote` escapes nothing. The bytes it reads go through the
codec as well, so the environment is validated the same way under both drivers.

SIGHUP, handled cleanly: during the call it means the caller hung up (the channel
ends the session; Asterisk answers the command in flight with -1 first, then signals).
Once the script closes its stdout the AGI is over: Asterisk 22 sends no SIGHUP then but
waits for the process to exit (res_agi's `run_agi`: `waitpid`) before the dialplan goes
on, so the caller waits for whatever the script still does; it only closes the services
and exits. A late SIGHUP (an older Asterisk's end of AGI) is ignored, never fatal.

Nothing but AGI may reach stdout: once the environment is read, the AGI pipes are moved
to private descriptors and stdin/stdout point at /dev/null, so a stray print from any
library cannot corrupt the protocol. Logs go to stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from asterisk.agi import AGI, AGISIGHUPHangup

from agi_scripts.channel import AgiChannel
from agi_scripts.codec import AgiConnection, Environment
from agi_scripts.errors import RemoteProtocolError
from agi_scripts.pipes import PipeWire
from agi_scripts.request import AgiRequest, CallLog
from agi_scripts.routes.ivr import IvrHandler
from ivr.callflow import ENTRY_FLOW
from ivr.outcome import error_variables
from ivr.ports import CallServices
from ivr.sequential import SEQUENTIAL, run_to_end

__all__ = ["Services", "ServicesFactory", "ServicesStart", "main", "run_script"]

log = logging.getLogger("agi_scripts.script")

USAGE = "usage: python -m callpop.agi_script CONFIG_FILE [FLOW | --survey]"
# The argument that runs the post-call survey (the route's `survey` extension) instead of
# a flow: no flow id starts with a dash.
SURVEY_ARG = "--survey"


class _EnvironmentReader:
    """What pyst2 reads the environment block from: fd 0, one byte at a time so that
    nothing after the block is taken from the pipe, each byte also fed to the codec."""

    def __init__(self, fd: int, conn: AgiConnection) -> None:
        self.fd = fd
        self.conn = conn

    def readline(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            byte = os.read(self.fd, 1)
            self.conn.receive_data(byte)  # b"" is EOF for the codec too
            if not byte:
                break
            line += byte
        return bytes(line)


class _Discard:
    """pyst2 echoes every environment line (caller name included) to stderr."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _private_stdio() -> tuple[int, int]:
    """Move the AGI pipes off fds 0 and 1, and point those at /dev/null."""
    agi_in, agi_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    return agi_in, agi_out


Services = tuple[Any, CallServices, Callable[[], Awaitable[None]]]


class ServicesStart(NamedTuple):
    """How the composition root starts a call's services: `build()` gives the flows,
    the services and their closer; `on_loop` says whether they need an event loop
    (PostgreSQL, a REST CRM) or run without one (a SQLite site: sqlite3 alone)."""

    build: Callable[[], Awaitable[Services]]
    on_loop: bool


ServicesFactory = Callable[[Path], ServicesStart]


def _failed(exc: Exception) -> Callable[[], Awaitable[Services]]:
    async def build() -> Services:
        raise exc

    return build


async def run_script(
    channel: AgiChannel,
    env: Environment,
    config_path: Path,
    flow: str,
    start: ServicesStart,
) -> int:
    call_log = CallLog(log, env.uniqueid, "stdio")
    status = 0
    try:
        try:
            flows, services, aclose = await start.build()
        except Exception as exc:
            # No flows, no IVR: the caller goes on to the operator (the `error` route).
            call_log.error("cannot start the IVR from %s: %s", config_path, exc)
            if channel.gone is None:
                await channel.set_variables(error_variables(env.uniqueid, flow, None))
                await channel.finish(hangup=False)
            return 1
        try:
            if flow == SURVEY_ARG:
                # Imported for a survey only: an IVR call does not pay for it.
                from agi_scripts.routes.survey import SurveyHandler

                request = AgiRequest(env, "script", MappingProxyType({}), channel, call_log)
                await SurveyHandler(flows, services)(request)  # type: ignore[arg-type]
            else:
                query = MappingProxyType({"flow": flow})
                await IvrHandler(flows, services)(
                    AgiRequest(env, "script", query, channel, call_log)
                )
        finally:
            await aclose()
        if channel.gone not in (None, "caller"):
            call_log.warning("closing: %s (%s)", channel.gone, channel.broken_detail)
    except Exception:
        call_log.exception("the AGI script failed")
        status = 1
    finally:
        await channel.close()
        # Asterisk's end-of-AGI SIGHUP may come late: it must not kill a finished script.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return status


def main(factory: ServicesFactory, argv: Sequence[str] | None = None) -> int:
    """Run one call; `factory` says how to start the flows and services (the composition
    root, `callpop.agi_script`, passes it in)."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="callpop-agi %(levelname)s %(message)s"
    )
    if not 1 <= len(args) <= 2:
        print(USAGE, file=sys.stderr)
        return 2
    config_path = Path(args[0])
    flow = args[1] if len(args) == 2 and args[1] else ENTRY_FLOW
    conn = AgiConnection()
    # pyst2 reads the environment (through the codec) and installs its SIGHUP handler.
    agi = AGI(stdin=_EnvironmentReader(0, conn), stdout=sys.stdout, stderr=_Discard())
    try:
        env = conn.next_event()
    except RemoteProtocolError as exc:
        log.error("not an AGI environment on stdin: %s", exc)
        return 1
    if not isinstance(env, Environment):
        log.error("%s", "stdin ended before the AGI environment block")
        return 1
    agi_in, agi_out = _private_stdio()
    try:
        start = factory(config_path)
    except Exception as exc:
        start = ServicesStart(_failed(exc), on_loop=False)
    if not start.on_loop:
        wire = PipeWire(conn, agi_in, agi_out, SEQUENTIAL)
        return run_to_end(_call(agi, wire, env, config_path, flow, start))
    # Only a site whose services need an event loop (PostgreSQL, a REST CRM) loads
    # asyncio; the channel still reads its pipe with blocking reads (nothing else runs
    # meanwhile), and the runner's waits are the loop's.
    import asyncio

    from ivr.loop_concurrency import LOOP

    wire = PipeWire(conn, agi_in, agi_out, LOOP)
    return asyncio.run(_call(agi, wire, env, config_path, flow, start))


async def _call(
    agi: AGI, wire: PipeWire, env: Environment, config_path: Path, flow: str, start: ServicesStart
) -> int:
    channel = AgiChannel(wire, uniqueid=env.uniqueid)
    signal.signal(signal.SIGHUP, lambda signum, frame: channel.hangup_signalled())
    try:
        agi.test_hangup()  # a SIGHUP that came while pyst2's handler was in place
    except AGISIGHUPHangup:
        channel.hangup_signalled()
    return await run_script(channel, env, config_path, flow, start)
