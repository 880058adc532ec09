"""callpop's classic AGI script beside pyst2's, one call at a time (issue 17 item 1).

    python -m bench.classic [--runs 3] [--calls 10] [--imports 15]

Both scripts walk the FastAGI benchmark's path (`bench.fastagi`: the same transcript,
recorded from `callpop serve`, Asterisk answering at once), spawned per call as
Asterisk spawns them, one call after the other so that no call competes with another
for the CPU. What is read, per process, when it is reaped (`os.wait4`, in
`bench/rusage_exec.py`, which spawns it: see there why): its user + system CPU time
and its maximum resident set size. callpop's script runs from a warm
flow cache (one call fills it first and is not counted), as on a site between two
edits of the dialplan, with its modules' bytecode written first, as `pip install`
writes it (`compile_callpop`; pyst2's was written when pip installed it).

The machine is shared: each run's figure is the median of its calls, and the report
gives every run's median, so a run disturbed by another load shows as such.

`--imports N` also says what the imports cost: each set of modules imported by a fresh
interpreter N times (spawned the same way), the least CPU and the median max RSS; and the
time the classic script's modules spend making their dataclasses (each class's methods
are generated and compiled on import).

`--instructions` counts, under valgrind's callgrind, the instructions of one warm call
of each script and of each set of imports: the same count for the same code whatever
else the machine is doing, where CPU time here varies by half from one run to the next
(a shared virtual machine). Each counted program runs ~50x slower, so once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.agi_load import LoadResult, run_load
from bench.agi_transcript import Transcript, record
from bench.fastagi_servers import (
    CRM_SIZE,
    CallpopSite,
    Contender,
    compile_callpop,
    contenders,
    prepare_callpop,
)
from bench.machine import load_average

__all__ = ["Figures", "measure", "run"]

CACHE = Path(__file__).resolve().parent / "out" / "cache"
SPAWN = Path(__file__).resolve().parent / "rusage_exec.py"
KEYS = ("pyst2", "callpop-classic")
# What a classic call imports (warm cache, a lookup by phone), and its parts.
CLASSIC_IMPORTS = (
    "import callpop.agi_script, callpop.classic_services, callpop.flow_cache,"
    " crm_adapter.phone, crm_adapter.sql.sqlite_file"
)
IMPORTS = (
    ("the interpreter alone", "pass"),
    ("pyst2 (asterisk.agi)", "import asterisk.agi"),
    ("asyncio", "import asyncio"),
    ("phonenumbers", "import phonenumbers"),
    ("the engine (ivr.session)", "import ivr.session"),
    ("the runner (ivr.runner)", "import ivr.runner"),
    ("the classic driver (agi_scripts.script)", "import agi_scripts.script"),
    ("the classic script's modules", CLASSIC_IMPORTS),
)
DATACLASSES = (
    "import dataclasses, sys, time\n"
    "spent = [0.0, 0]\n"
    "make = dataclasses._process_class\n"
    "def timed(*args, **kwargs):\n"
    "    start = time.process_time()\n"
    "    made = make(*args, **kwargs)\n"
    "    spent[0] += time.process_time() - start\n"
    "    spent[1] += 1\n"
    "    return made\n"
    "dataclasses._process_class = timed\n"
    f"{CLASSIC_IMPORTS}\n"
    "sys.stderr.write(f'{spent[0]} {spent[1]}')\n"
)


@dataclass(frozen=True, slots=True)
class Figures:
    """One run of one script: the median of its calls."""

    key: str
    calls: int
    cpu_ms: float
    max_rss_mb: float
    wall_ms: float


def _figures(key: str, result: LoadResult, usage: Path) -> Figures:
    processes = [line.split() for line in usage.read_text().splitlines()]
    if result.failed or len(processes) != result.completed:
        raise RuntimeError(f"{key}: {result.failed} calls failed: {result.failures}")
    return Figures(
        key,
        result.completed,
        statistics.median(float(cpu) for cpu, _ in processes) * 1000,
        statistics.median(int(rss) for _, rss in processes) / 1024,
        result.seconds / max(1, result.completed) * 1000,
    )


async def measure(
    contender: Contender,
    transcript: Transcript,
    path: Path,
    site: CallpopSite,
    calls: int,
    environ: dict[str, str],
) -> Figures:
    """`calls` sequential calls of one script."""
    assert contender.per_call is not None
    argv, agi_args = contender.per_call(path, site)
    usage = path.with_name(f"{contender.key}.usage")
    usage.unlink(missing_ok=True)
    argv = [sys.executable, "-I", "-S", str(SPAWN), str(usage), *argv]
    result = await run_load(
        transcript,
        calls=calls,
        concurrency=1,
        time_scale=0,
        argv=argv,
        args=agi_args,
        callers=site.callers,
        deadline_s=60 + calls * 5,
        environ=environ,
    )
    return _figures(contender.key, result, usage)


@dataclass(frozen=True, slots=True)
class _Bench:
    """What both scripts' calls are placed with: the site, the recorded path (and its
    file) and the environment, callpop's flow cache filled by one call not counted."""

    site: CallpopSite
    transcript: Transcript
    path: Path
    environ: dict[str, str]


async def _prepared(work: Path, cache: Path, crm_size: int) -> _Bench:
    by_key = {c.key: c for c in contenders()}
    site = await prepare_callpop(work / "callpop", cache, crm_size)
    reference = by_key["callpop-uvloop"]
    assert reference.start is not None
    async with reference.start(work, site) as server:
        transcript, _ = await record("127.0.0.1", server.port, site.callers[0])
    path = work / "transcript.json"
    transcript.dump(path)
    # The script's flow cache: its own folder.
    environ = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    await measure(by_key["callpop-classic"], transcript, path, site, 1, environ)
    return _Bench(site, transcript, path, environ)


async def run(
    runs: int, calls: int, *, cache: Path = CACHE, crm_size: int = CRM_SIZE
) -> list[list[Figures]]:
    """`runs` rounds, each script's `calls` calls in turn within a round."""
    by_key = {c.key: c for c in contenders()}
    with tempfile.TemporaryDirectory(prefix="callpop-bench-classic-") as tmp:
        b = await _prepared(Path(tmp), cache, crm_size)
        rounds = []
        for _ in range(runs):
            rounds.append(
                [
                    await measure(by_key[key], b.transcript, b.path, b.site, calls, b.environ)
                    for key in KEYS
                ]
            )
        return rounds


def _callgrind(out: Path) -> list[str]:
    """The valgrind command line that counts a program's instructions into `out`."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("--instructions needs valgrind (Debian's valgrind package)")
    return [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]


def _instructions(out: Path) -> int:
    """The total instruction count callgrind wrote (its `summary:` line)."""
    found = re.search(r"^summary: (\d+)$", out.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"callgrind wrote no summary to {out}")
    return int(found.group(1))


async def instructions(*, cache: Path = CACHE, crm_size: int = CRM_SIZE) -> dict[str, int]:
    """Instructions of one warm call of each script."""
    by_key = {c.key: c for c in contenders()}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="callpop-bench-instructions-") as tmp:
        work = Path(tmp)
        b = await _prepared(work, cache, crm_size)
        for key in KEYS:
            contender = by_key[key]
            assert contender.per_call is not None
            argv, agi_args = contender.per_call(b.path, b.site)
            out = work / f"{key}.callgrind"
            result = await run_load(
                b.transcript,
                calls=1,
                concurrency=1,
                time_scale=0,
                argv=[*_callgrind(out), *argv],
                args=agi_args,
                callers=b.site.callers,
                deadline_s=600,
                environ=b.environ,
            )
            if result.failed or not result.completed:
                raise RuntimeError(f"{key} under callgrind: {result.failures}")
            counts[key] = _instructions(out)
    return counts


def import_instructions() -> dict[str, int]:
    """Instructions of each set of `IMPORTS`, in a fresh interpreter."""
    compile_callpop()
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="callpop-bench-instructions-") as tmp:
        out = Path(tmp) / "imports.callgrind"
        for what, code in IMPORTS:
            subprocess.run(
                [*_callgrind(out), sys.executable, "-c", code], check=True, capture_output=True
            )
            counts[what] = _instructions(out)
    return counts


def imports(times: int) -> list[tuple[str, float, float]]:
    """(what, least CPU ms, median max RSS MB) of each of `IMPORTS`, `times` times."""
    compile_callpop()
    found = []
    with tempfile.TemporaryDirectory(prefix="callpop-bench-imports-") as tmp:
        usage = Path(tmp) / "usage"
        for what, code in IMPORTS:
            usage.unlink(missing_ok=True)
            for _ in range(times):
                argv = [sys.executable, "-c", code]
                subprocess.run(
                    [sys.executable, "-I", "-S", str(SPAWN), str(usage), *argv], check=True
                )
            runs = [line.split() for line in usage.read_text().splitlines()]
            found.append(
                (
                    what,
                    min(float(cpu) for cpu, _ in runs) * 1000,
                    statistics.median(int(rss) for _, rss in runs) / 1024,
                )
            )
    return found


def dataclass_ms(times: int) -> tuple[float, int]:
    """The least CPU the classic script's modules spend making dataclasses, and how many."""
    spent = []
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, "-c", DATACLASSES], check=True, capture_output=True, text=True
        )
        seconds, count = done.stderr.split()
        spent.append(float(seconds))
    return min(spent) * 1000, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classic", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="0: the imports only")
    parser.add_argument("--calls", type=int, default=10, help="calls per script per run")
    parser.add_argument("--imports", type=int, default=0, help="measure the imports N times")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        counts = {**asyncio.run(instructions()), **import_instructions()}
        print("instructions (callgrind), one warm call and each set of imports:")
        for what, count in counts.items():
            print(f"  {what:<40} {count / 1e6:8.1f} M")
    if args.imports:
        print(f"imports, each in a fresh interpreter {args.imports} times:")
        for what, cpu_ms, rss_mb in imports(args.imports):
            print(f"  {what:<40} least CPU {cpu_ms:6.1f} ms  max RSS {rss_mb:5.1f} MB")
        spent, count = dataclass_ms(args.imports)
        print(f"  of which making {count} dataclasses: least {spent:.1f} ms")
    if args.runs < 1:
        return 0
    before = load_average()
    rounds = asyncio.run(run(args.runs, args.calls))
    after = load_average()
    print(f"{args.runs} runs of {args.calls} sequential calls per script; per call, median:")
    print(f"{'run':>3}  {'script':<16} {'CPU ms':>8} {'max RSS MB':>11} {'wall ms':>8}")
    for number, figures in enumerate(rounds, start=1):
        for f in figures:
            print(
                f"{number:>3}  {f.key:<16} {f.cpu_ms:>8.1f} {f.max_rss_mb:>11.1f} {f.wall_ms:>8.1f}"
            )
    for key in KEYS:
        mine = [f for figures in rounds for f in figures if f.key == key]
        print(
            f"median of runs  {key:<16} {statistics.median(f.cpu_ms for f in mine):>8.1f}"
            f" {statistics.median(f.max_rss_mb for f in mine):>11.1f}"
            f" {statistics.median(f.wall_ms for f in mine):>8.1f}"
        )
    print(f"load average before/after: {before} / {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
