"""Asterisk's side of FastAGI (and of classic AGI over a process's stdin/stdout), played
exactly as tests/fixtures/asterisk/agi/ shows, by a scripted caller.

    record = await call_fastagi("127.0.0.1", port, CallerScript.parse("1 w 1234#"),
                                path="ivr?flow=main")
    record.variables["CALLPOP_OUTCOME"]       # what the IVR left for the dialplan
    record.wire                               # every line, both ways, as bytes

The wire rules it keeps, each from a recording:
- the environment block: the real order and formatting, `agi_network*` lines only for
  FastAGI, an empty value keeping its space (`agi_accountcode: `), caller ID raw;
- one line per command read through a stdio buffer: commands written together are
  answered one at a time, the next only when more bytes arrive (pipelined.txt), and a
  line longer than 8191 bytes is cut there, its rest read as another command (res_agi);
- a hang-up interrupts the running command (`200 result=-1 ...`) and the `HANGUP` line
  follows; then the channel is dead (511) until the server closes (hangup-idle.txt);
  for a classic AGI script the notice is SIGHUP instead of the line;
- when the server closes or half-closes, Asterisk writes a last `HANGUP` and closes
  (half-close.txt); a classic script gets SIGHUP when its stdout ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from callpop.pbx_sim.agi_channel import AgiChannelSim, SimOptions
from callpop.pbx_sim.agi_parse import AGI_BUF_LEN
from callpop.pbx_sim.script import CallerScript

__all__ = ["CallRecord", "call_agi_script", "call_fastagi", "environment_block", "play_agi"]

ASTERISK_VERSION = "22.10.1"
_READ_CHUNK = 65536
DEFAULT_OPTIONS = SimOptions()
DEFAULT_THREADID = 140062603159232


@dataclass(slots=True)
class CallRecord:
    """What happened on the simulated channel, for assertions."""

    wire: list[tuple[str, bytes]] = field(default_factory=list)  # ("<" Asterisk, ">" server)
    commands: list[bytes] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    set_order: list[tuple[str, str]] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    executed: list[tuple[str, str]] = field(default_factory=list)
    dialplan: dict[str, str] = field(default_factory=dict)
    hung_up_by: str | None = None
    ended: str = ""  # "server-closed", "asterisk-closed", "failure", "command-limit"
    duration_ms: int = 0

    @property
    def outcome(self) -> str:
        return self.read("CALLPOP_OUTCOME")

    def read(self, name: str) -> str:
        """A variable as the dialplan's `${NAME}` reads it: unset is empty (callpop
        sets only the outcome variables that have a value)."""
        return self.variables.get(name, "")

    def route(self) -> str:
        """Where the emitted dialplan sends the call next: `callpop-route,<this>,1`
        (design.md: an empty CALLPOP_OUTCOME means callpop was unreachable: operator)."""
        return self.outcome or "operator"

    def sent_by_server(self) -> bytes:
        return b"".join(line + b"\n" for who, line in self.wire if who == ">")


def environment_block(
    script: CallerScript,
    *,
    request: str,
    network_script: str | None,
    args: Sequence[str] = (),
    priority: int = 2,
    threadid: int = DEFAULT_THREADID,
    channel_name: str,
) -> bytes:
    """The `agi_*` block as res_agi writes it (`launch_netscript` then `setup_env`)."""
    caller = script.caller
    lines: list[str] = []
    if network_script is not None:
        lines += ["agi_network: yes", f"agi_network_script: {network_script}"]
    lines += [
        f"agi_request: {request}",
        f"agi_channel: {channel_name}",
        f"agi_language: {script.language}",
        f"agi_type: {channel_name.split('/')[0]}",
        f"agi_uniqueid: {script.uniqueid}",
        f"agi_version: {ASTERISK_VERSION}",
        f"agi_callerid: {caller.number if caller.number else 'unknown'}",
        f"agi_calleridname: {caller.name if caller.name else 'unknown'}",
        f"agi_callingpres: {0 if caller.number else 67}",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {script.dnid or 'unknown'}",
        "agi_rdnis: unknown",
        f"agi_context: {script.context}",
        f"agi_extension: {script.extension}",
        f"agi_priority: {priority}",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        f"agi_threadid: {threadid}",
    ]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, start=1)]
    # Raw, as Asterisk does: a caller name is not escaped (env-hostile-name.txt).
    return "".join(line + "\n" for line in lines).encode("utf-8") + b"\n"


class _StdioReader:
    """Asterisk reads commands with fgets on a FILE* but waits for the socket to be
    readable before each one: lines already in the stdio buffer wait for new bytes."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._kernel = bytearray()  # arrived on the socket, not yet pulled by fgets
        self._stdio = bytearray()
        self.eof = False

    async def _poll(self) -> None:
        if self._kernel or self.eof:
            return
        chunk = await self._reader.read(_READ_CHUNK)
        if chunk:
            self._kernel += chunk
        else:
            self.eof = True

    async def readline(self) -> bytes | None:
        """The next command line without its "\\n"; None at EOF (the script ended)."""
        await self._poll()
        limit = AGI_BUF_LEN - 1
        while True:
            end = self._stdio.find(b"\n", 0, limit)
            if end >= 0:
                line = bytes(self._stdio[:end])
                del self._stdio[: end + 1]
                return line
            if len(self._stdio) >= limit:
                line = bytes(self._stdio[:limit])
                del self._stdio[:limit]
                return line
            if self._kernel:
                self._stdio += self._kernel
                self._kernel.clear()
                continue
            if self.eof:
                if self._stdio:  # a last line without "\n" still runs
                    line = bytes(self._stdio)
                    self._stdio.clear()
                    return line
                return None
            chunk = await self._reader.read(_READ_CHUNK)
            if chunk:
                self._kernel += chunk
            else:
                self.eof = True


async def play_agi(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    script: CallerScript,
    *,
    request: str,
    network_script: str | None,
    args: Sequence[str] = (),
    options: SimOptions = DEFAULT_OPTIONS,
    on_hangup: Callable[[], None] | None = None,
    until_exit: Callable[[], Awaitable[object]] | None = None,
    priority: int = 2,
    threadid: int = DEFAULT_THREADID,
    timings: list[float] | None = None,
) -> CallRecord:
    """Play one AGI session over (reader, writer). `on_hangup` runs when the caller
    hangs up and when the AGI ends otherwise than by the script closing its stdout
    (classic AGI: SIGHUP to the script; `until_exit` is waited for before its stdin is
    closed); without it, the notices are `HANGUP` lines (FastAGI). `priority` is the
    AGI() priority.
    `timings` gets, per command, the server's think time: seconds from Asterisk's last
    write (the environment block or an answer) to the command line arriving."""
    sim = AgiChannelSim(script, options, fast=network_script is not None)
    record = CallRecord()
    env = environment_block(
        script,
        request=request,
        network_script=network_script,
        args=args,
        priority=priority,
        threadid=threadid,
        channel_name=sim.channel_name,
    )
    record.wire += [("<", line) for line in env.split(b"\n")[:-1]]
    stdio = _StdioReader(reader)
    scale = options.time_scale

    sent_at = 0.0

    async def write(lines: list[bytes]) -> bool:
        nonlocal sent_at
        if not lines:
            return True
        record.wire += [("<", line) for line in lines]
        try:
            writer.write(b"".join(line + b"\n" for line in lines))
            sent_at = time.perf_counter()
            await writer.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True

    try:
        writer.write(env)
        sent_at = time.perf_counter()
        await writer.drain()
        while True:
            line = await stdio.readline()
            if line is None:
                record.ended = "server-closed"
                break
            if timings is not None:
                timings.append(time.perf_counter() - sent_at)
            record.wire.append((">", line))
            record.commands.append(line)
            if line[:7].lower() == b"failure":  # res_agi: the script could not start
                record.ended = "failure"
                break
            was_dead = sim.dead
            outcome = sim.handle(line)
            if scale > 0 and outcome.duration_ms:
                await asyncio.sleep(outcome.duration_ms / 1000 * scale)
            if not was_dead and sim.dead and on_hangup is not None:
                on_hangup()
            if not await write(outcome.lines):
                record.ended = "connection-lost"
                break
            if outcome.close:
                record.ended = "asterisk-closed"
                break
            if sim.commands >= options.max_commands:
                record.ended = "command-limit"
                break
        if options.sighup and record.ended != "connection-lost":
            # The end of the AGI (run_agi's "Notify process"): FastAGI writes a last
            # HANGUP (half-close.txt); a classic script still running gets SIGHUP, but
            # one that closed its stdout is only waited for (`waitpid`, pid then -1).
            if on_hangup is None:
                await write([b"HANGUP"])
            elif record.ended != "server-closed":
                on_hangup()
    except ConnectionError:
        record.ended = record.ended or "connection-lost"
    finally:
        if until_exit is not None and record.ended == "server-closed":
            # res_agi closes a script's stdin only once it has exited (agi_exec_full).
            await until_exit()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    record.variables = dict(sim.variables)
    record.set_order = list(sim.set_order)
    record.played = list(sim.played)
    record.verbose = list(sim.verbose)
    record.executed = list(sim.executed)
    record.dialplan = dict(sim.dialplan)
    record.hung_up_by = sim.hung_up_by
    record.duration_ms = sim.now_ms
    return record


async def call_fastagi(
    host: str,
    port: int,
    script: CallerScript,
    *,
    path: str = "ivr",
    args: Sequence[str] = (),
    options: SimOptions = DEFAULT_OPTIONS,
    request: str | None = None,
    priority: int = 2,
    threadid: int = DEFAULT_THREADID,
    timings: list[float] | None = None,
) -> CallRecord:
    """Place one call: connect to the FastAGI server as `AGI(agi://host:port/path,args)`
    does (`request`: the URL to show in `agi_request`, by default that one; `timings`:
    see `play_agi`)."""
    reader, writer = await asyncio.open_connection(host, port)
    return await play_agi(
        reader,
        writer,
        script,
        request=request or f"agi://{host}:{port}/{path}",
        network_script=path,
        args=args,
        options=options,
        priority=priority,
        threadid=threadid,
        timings=timings,
    )


async def call_agi_script(
    argv: Sequence[str],
    script: CallerScript,
    *,
    args: Sequence[str] = (),
    options: SimOptions = DEFAULT_OPTIONS,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[CallRecord, int, bytes]:
    """Run a classic AGI script as Asterisk does (`AGI(/path/script,args)`): argv is the
    script and its arguments; its stdin/stdout carry AGI, SIGHUP tells of the hang-up;
    once the script closes its stdout it is waited for, its stdin closed only after it
    exits (res_agi). Returns the record, the exit status and what it wrote on stderr.
    Callers bound the whole with `asyncio.timeout`; the process is killed if cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def sighup() -> None:
        if options.sighup and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGHUP)

    stderr_task = asyncio.create_task(proc.stderr.read())
    try:
        record = await play_agi(
            proc.stdout,
            proc.stdin,
            script,
            request=argv[0],
            network_script=None,
            args=args,
            options=options,
            on_hangup=sighup,
            until_exit=proc.wait,
        )
        status = await proc.wait()
        stderr = await stderr_task
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if not stderr_task.done():
            stderr_task.cancel()
    return record, status, stderr
