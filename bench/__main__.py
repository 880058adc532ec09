"""`python -m bench --quick|--full [--only NAME,...] [--profile]`

--quick writes bench/out/quick.md and bench/out/quick.json (never the published figures);
--full writes docs/benchmarks.md and docs/benchmarks.json. `--only` runs some of
engine, crm, screenpop, fastagi, journeys, hold, flood (and then writes to bench/out/ whatever the
mode, so a partial run never replaces the published table). `hold` is the 20,000 calls held by
one FastAGI process (--full) or 1,000 (--quick). `flood` is ten times the usual arrival rate
through `callpop serve` on PostgreSQL for 60 s (--full) or 20 s (--quick), serve SIGKILLed
in the middle. `--profile` also writes pyinstrument
profiles of the hot paths to bench/out/profiles/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench import crm, engine, fastagi, flood, hold, journeys, pop
from bench.background import Watcher
from bench.machine import describe, load_average
from bench.report import Report, Section, write
from bench.summary import targets

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CACHE = OUT / "cache"
FINDINGS = ROOT / "bench" / "findings.md"
BASELINE = ROOT / "bench" / "baseline.json"
NAMES = ("engine", "crm", "screenpop", "fastagi", "journeys", "hold", "flood")


@dataclass(frozen=True)
class Mode:
    name: str
    engine_s: float
    crm_sizes: tuple[int, ...]
    crm_lookups: int
    pop_agents: int
    pop_rates: tuple[int, ...]
    pop_seconds: float
    browser_pops: int
    fastagi: fastagi.Settings
    hold: hold.Settings
    flood: flood.Settings
    journey_sizes: tuple[int, ...] = (10_000,)


QUICK = Mode(
    "quick",
    engine_s=0.3,
    crm_sizes=(10_000,),
    crm_lookups=300,
    pop_agents=500,
    pop_rates=(20, 50, 100),
    pop_seconds=2,
    browser_pops=3,
    fastagi=fastagi.Settings(
        throughput_levels=(200,),
        latency_levels=(100,),
        calls=1_000,
        throughput_s=1.5,
        process_calls=20,
        held_ramp_s=1.0,
        hold_s=1.0,
        warmup_calls=50,
    ),
    hold=hold.Settings(calls=1_000, rate=100, steady_s=3),
    flood=flood.QUICK,
)
FULL = Mode(
    "full",
    engine_s=2.0,
    crm_sizes=(10_000, 100_000, 1_000_000),
    crm_lookups=2_000,
    pop_agents=500,
    pop_rates=(20, 50, 100),
    pop_seconds=10,
    browser_pops=30,
    fastagi=fastagi.Settings(
        throughput_levels=(50, 200, 500, 2000),
        latency_levels=(50, 500, 2000),
        calls=10_000,
        throughput_s=4.0,
        process_calls=150,
    ),
    hold=hold.Settings(),  # 20,000 held, 300 new calls/s: ~2 min a server
    flood=flood.FULL,  # 20 s usual, 60 s at ten times the rate, the backlog: ~3 min
    journey_sizes=(1_000_000,),
)


def _benchmarks(mode: Mode) -> dict[str, Callable[[], Section]]:
    return {
        "engine": lambda: engine.run(seconds_per_path=mode.engine_s),
        "crm": lambda: crm.run(cache=CACHE, sizes=mode.crm_sizes, lookups=mode.crm_lookups),
        "screenpop": lambda: pop.run(
            rates=list(mode.pop_rates),
            seconds=mode.pop_seconds,
            agents=mode.pop_agents,
            cache=CACHE,
            browser_pops=mode.browser_pops,
        ),
        "fastagi": lambda: fastagi.run(mode.fastagi, cache=CACHE),
        "journeys": lambda: journeys.run(cache=CACHE, sizes=mode.journey_sizes),
        "hold": lambda: hold.run(mode.hold, cache=CACHE),
        "flood": lambda: flood.run(mode.flood),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--quick", action="store_true", help="a smaller run, under 2 minutes")
    which.add_argument("--full", action="store_true", help="the published run, under 10 minutes")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(NAMES)}")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write NAME.md and NAME.json under this folder instead",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write pyinstrument profiles to bench/out/profiles/",
    )
    args = parser.parse_args(argv)
    mode = FULL if args.full else QUICK
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    if args.out is not None:
        md, js = args.out / f"{mode.name}.md", args.out / f"{mode.name}.json"
    elif mode is FULL and not only:
        md, js = ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "benchmarks.json"
    else:
        md, js = OUT / f"{mode.name}.md", OUT / f"{mode.name}.json"

    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = describe()
    machine["load_before"] = " ".join(f"{x:.2f}" for x in load_average())
    watcher = Watcher()
    watcher.start()
    sections: list[Section] = []
    errors: list[str] = []
    for name, bench in _benchmarks(mode).items():
        if only and name not in only:
            continue
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            sections.append(bench())
        except Exception as exc:  # report what ran; say what did not
            traceback.print_exc()
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"bench: {name} took {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if args.profile:
        from bench.profiles import write_profiles

        write_profiles(OUT / "profiles", CACHE)
    sections.sort(key=lambda section: section.title)  # run cheapest first, read 1 to 4
    background = watcher.stop()
    machine["load_after"] = " ".join(f"{x:.2f}" for x in load_average())
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    make = {"full": "make bench", "quick": "make bench-quick"}[mode.name]
    report = Report(
        mode=mode.name,
        started_at=stamp,
        seconds=time.perf_counter() - started,
        machine=machine,
        commands=[
            f"{make}    # = pip install -e '.[bench]' then the line below"
            if not only
            else "# a partial run:",
            f".venv/bin/{command}",
        ],
        background=background,
        sections=sections,
        summary=targets(sections, _baseline()),
        findings=FINDINGS.read_text(encoding="utf-8") if FINDINGS.exists() else "",
        errors=[*errors, *(f"{s.key}: {n}" for s in sections for n in s.data.get("errors", []))],
    )
    write(report, md, js)
    print(
        f"bench: wrote {os.path.relpath(md)} and {os.path.relpath(js)} in {report.seconds:.0f} s",
        file=sys.stderr,
    )
    return 1 if errors else 0


def _baseline() -> dict[str, Any] | None:
    if not BASELINE.exists():
        return None
    return cast(dict[str, Any], json.loads(BASELINE.read_text(encoding="utf-8")))


if __name__ == "__main__":
    sys.exit(main())
