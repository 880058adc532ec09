"""One process of the hold benchmark's load: Asterisk's side of a share of the calls.

    python -m bench.hold_driver TRANSCRIPT.json --port P --calls N --first K
        --start-over S --time-scale X --steady-after T [--callers FILE]
        [--loop asyncio|uvloop]

It places its N calls evenly over S seconds (`bench.agi_load.run_load`, call ids from
K), each walking the transcript at `time_scale` times a real channel's pace, and once
all have started prints `PLATEAU <calls open>` and waits for a line on stdin: the
benchmark reads the server's memory meanwhile. Then every caller hangs up, and it
prints one JSON line: the latencies of the commands from T seconds on (the steady
state, once as many calls end as arrive; p50, p99, max, as Asterisk sees them: from
writing an answer to reading the next command), the calls held, the failures,
and its own CPU time, so that a driver that could not keep the pace is seen as such
and its latencies are not taken for the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from array import array
from pathlib import Path

from bench.agi_load import LoadResult, run_load
from bench.agi_transcript import Transcript
from bench.stats import percentile

__all__ = ["main", "positions_file"]


def positions_file(latencies: Path) -> Path:
    """Where the driver writes the step in the path of each latency's command (uint16)."""
    return latencies.with_name(latencies.name + ".positions")


def raise_open_files() -> int:
    """The soft open-file limit up to the hard one (a socket per call); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _drive(args: argparse.Namespace) -> dict[str, object]:
    transcript = Transcript.load(args.transcript)
    callers = args.callers.read_text().split() if args.callers else ()
    loop = asyncio.get_running_loop()
    go = loop.create_future()

    def at_plateau(open_calls: int) -> None:
        sys.stdout.write(f"PLATEAU {open_calls}\n")
        sys.stdout.flush()

    async def wait_for_go() -> None:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not go.done():
            go.set_result(line)

    waiting = asyncio.create_task(wait_for_go())
    result = LoadResult()
    # The steady state: from the time a call lasts on, as many calls end as arrive.
    marks = {"steady": 0}

    def steady() -> None:
        marks["steady"] = len(result.latencies)

    loop.call_later(args.steady_after, steady)
    cpu0 = time.process_time()
    started = time.perf_counter()
    await run_load(
        transcript,
        calls=args.calls,
        concurrency=args.calls,
        time_scale=args.time_scale,
        port=args.port,
        callers=callers,
        start_over_s=args.start_over,
        hold_s=0.0,
        at_plateau=at_plateau,
        hold_until=go,
        first_call=args.first,
        deadline_s=args.deadline,
        ramp_per_tick=args.calls,
        result=result,
    )
    waiting.cancel()
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu0
    lat = result.latencies[marks["steady"] :]
    if args.latencies is not None:
        args.latencies.write_bytes(array("d", lat).tobytes())
        positions = result.positions[marks["steady"] :]
        positions_file(args.latencies).write_bytes(array("H", positions).tobytes())
    return {
        "calls": result.calls,
        "held": result.held,
        "hung_up": result.hung_up,
        "completed": result.completed,
        "failed": result.failed,
        "failures": result.failures,
        "commands": len(result.latencies),
        "steady_commands": len(lat),
        "p50_ms": percentile(lat, 50) * 1000 if lat else None,
        "p99_ms": percentile(lat, 99) * 1000 if lat else None,
        "max_ms": max(lat) * 1000 if lat else None,
        "over_20ms": sum(1 for x in lat if x > 0.020),
        "seconds": seconds,
        "cpu_s": cpu_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("transcript", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--start-over", type=float, required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--steady-after", type=float, default=0.0)
    parser.add_argument("--deadline", type=float, default=900.0)
    parser.add_argument("--callers", type=Path, default=None)
    parser.add_argument(
        "--latencies",
        type=Path,
        default=None,
        help="write them here (doubles), and their commands' steps in the path beside",
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    limit = raise_open_files()
    if limit < args.calls + 64:
        sys.exit(
            f"hold_driver: {args.calls} calls need {args.calls + 64} open files, limit {limit}"
        )
    if args.loop == "uvloop":
        import uvloop

        out = uvloop.run(_drive(args))
    else:
        out = asyncio.run(_drive(args))
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
