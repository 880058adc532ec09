"""The benchmark harness, run at the smallest sizes so it cannot rot.

Correctness only: every contender completes every call down the same path, the tables
have a row per contender and per size, the report is written. Timings are never
asserted here (they belong to `make bench`)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench import classic, crm, engine, fastagi, hold, journeys, pop
from bench.fastagi_servers import contenders
from bench.paths import ENGINE_PATHS
from bench.report import Report, Section, Table, write
from bench.summary import targets
from crm_adapter.sql.engine import create_engine

PG_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def test_every_engine_path_ends_where_it_says() -> None:
    section = engine.run(seconds_per_path=0.001)
    assert [r["path"] for r in section.data["paths"]] == [p.name for p in ENGINE_PATHS]
    for result, path in zip(section.data["paths"], ENGINE_PATHS, strict=True):
        assert result["outcome"] == f"{path.outcome} {path.target}"
        assert result["calls"] > 0
    assert len(section.tables[0].rows) == len(ENGINE_PATHS)


def test_the_report_holds_the_tables_the_machine_and_the_commands(tmp_path: Path) -> None:
    section = Section(
        "demo",
        "A section",
        "what it measures",
        [Table("a table", ["server", "calls/s"], [["peer | one", "12"]])],
        {"x": 1},
    )
    report = Report(
        mode="quick",
        started_at="now",
        seconds=1.0,
        machine={
            "cpu": "CPU X",
            "cores": 2,
            "memory_gib": 4.0,
            "python": "CPython 3.11",
            "os": "Debian",
            "kernel": "6",
            "packages": {"uvloop": "1"},
        },
        commands=["make bench-quick"],
        background="nothing",
        sections=[section],
        summary=targets([section]),
    )
    write(report, tmp_path / "quick.md", tmp_path / "quick.json")
    text_ = (tmp_path / "quick.md").read_text()
    assert "## A section" in text_ and "peer \\| one" in text_
    assert "CPU X, 2 cores" in text_ and "make bench-quick" in text_
    assert json.loads((tmp_path / "quick.json").read_text())["sections"][0]["data"] == {"x": 1}


def test_the_targets_stand_beside_the_same_targets_of_the_baseline_run() -> None:
    engine_section = engine.run(seconds_per_path=0.001)
    baseline: dict[str, Any] = {
        "started_at": "then",
        "commit": "abc1234",
        "sections": [
            {
                "key": "engine",
                "title": "4. The engine alone",
                "data": json.loads(json.dumps(engine_section.data)),
            }
        ],
    }
    baseline["sections"][0]["data"]["paths"][0]["events_per_s"] = 12.0
    table = targets([engine_section], baseline)
    assert table.columns[1] == "baseline (then, abc1234)"
    [row] = table.rows
    assert row[1].startswith("12 events/s") and row[2] != row[1]


def _held(key: str, p99_ms: float, kib: float) -> dict[str, object]:
    return {
        "key": key,
        "p99_ms": p99_ms,
        "p50_ms": p99_ms / 10,
        "kib_per_call": kib,
        "server_connections": 19_488,
        "calls_placed": 25_488,
        "failed": 0,
    }


def test_the_targets_say_whether_the_held_calls_meet_issue_17s_latency_and_memory() -> None:
    rows = [_held("bare", 60.0, 5.8), _held("bare-uvloop", 4.5, 5.1)]
    data = {"settings": {"rate": 300.0}, "rows": [*rows, _held("callpop-uvloop", 6.0, 13.7)]}
    section = Section(key="hold", title="1b. FastAGI: calls held", intro="", tables=[], data=data)
    latency, memory = targets([section]).rows
    assert latency[0] == "19,488 calls held, 300 new calls/s: per-command p99 under 20 ms"
    assert latency[2] == "yes"  # 6 ms
    assert memory[1] == "13.70 KiB vs 5.10 KiB" and memory[2] == "**no**"  # the best bare


def test_when_held_calls_fail_the_notes_carry_what_the_server_logged_once_each() -> None:
    log = (
        "2026-12-07 13:10:01,001 INFO callpop.serve FastAGI: listening\n"
        "2026-12-07 13:10:05,002 WARNING callpop.crm crm lookups failing (timeout)\n"
        "2026-12-07 13:10:06,003 WARNING callpop.crm crm lookups failing (timeout)\n"
        "2026-12-07 13:10:07,004 ERROR agi_scripts.server [1.2] the IVR failed\n"
    )
    assert hold.server_warnings(log) == [
        "WARNING callpop.crm crm lookups failing (timeout)",
        "ERROR agi_scripts.server [1.2] the IVR failed",
    ]


@pytest.fixture
def pg_prefix() -> Iterator[str]:
    prefix = f"bench_test_{uuid.uuid4().hex[:8]}"
    yield prefix

    async def drop() -> None:
        admin = create_engine(PG_URL)
        try:
            async with admin.begin() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"
                    ),
                    {"p": prefix + "%"},
                )
                for (schema,) in rows.all():
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            await admin.dispose()

    asyncio.run(drop())


@pytest.mark.postgres
def test_crm_lookups_at_two_sizes_on_both_databases_reuse_the_cache(
    tmp_path: Path, pg_prefix: str
) -> None:
    first = crm.run(
        cache=tmp_path, sizes=[300, 150], lookups=20, pg_url=PG_URL, pg_prefix=pg_prefix
    )
    rows = first.tables[0].rows
    assert [(r[0], r[1]) for r in rows] == [
        ("SQLite", "150"),
        ("SQLite", "300"),
        ("PostgreSQL", "150"),
        ("PostgreSQL", "300"),
    ]
    for database in ("sqlite", "postgres"):
        for size in (150, 300):
            result = first.data[database][size]
            assert result["n"] == 20
            assert 0 < result["hits"] < 20  # customers found, and the numbers nobody has
    assert all(v > 0 for v in first.data["sqlite_generated_s"].values())
    again = crm.run(
        cache=tmp_path, sizes=[150, 300], lookups=20, pg_url=PG_URL, pg_prefix=pg_prefix
    )
    assert set(again.data["sqlite_generated_s"].values()) == {0.0}
    assert set(again.data["postgres_generated_s"].values()) == {0.0}


@pytest.mark.postgres
def test_journey_report_counts_every_generated_journey_and_reuses_the_cache(
    tmp_path: Path, pg_prefix: str
) -> None:
    first = journeys.run(cache=tmp_path, sizes=[500], pg_url=PG_URL, pg_prefix=pg_prefix)
    for database in ("sqlite", "postgres"):
        result = first.data[database]
        assert result["all"]["calls"] == 500
        assert 0 < result["one version"]["calls"] < 500  # three versions, one of them counted
        assert 0 < result["since 7 days"]["calls"] < 500  # a week of the 30 days
    assert first.data["sqlite_generated_s"] > 0
    again = journeys.run(cache=tmp_path, sizes=[500], pg_url=PG_URL, pg_prefix=pg_prefix)
    assert (again.data["sqlite_generated_s"], again.data["postgres_generated_s"]) == (0.0, 0.0)
    assert again.data["sqlite"]["all"]["calls"] == 500


@pytest.mark.slow
@pytest.mark.browser
def test_screen_pop_latency_run_gets_every_pop_to_sockets_and_chromium(tmp_path: Path) -> None:
    section = pop.run(
        rates=[10], seconds=1, agents=4, cache=tmp_path / "cache", browser_pops=2, crm_size=200
    )
    (rate,) = section.data["rates"]
    assert rate["calls"] == 10 and rate["lost"] == 0 and rate["n"] == 10
    browser = section.data["browser"]
    assert "error" not in browser, browser.get("error")
    assert browser["n"] == 2


@pytest.mark.slow
def test_every_fastagi_contender_walks_the_recorded_path_to_its_end(tmp_path: Path) -> None:
    settings = fastagi.Settings(
        throughput_levels=(4,),
        latency_levels=(3,),
        calls=12,
        throughput_s=0.01,
        min_calls=12,
        process_calls=4,
        time_scale=0.05,
        ramp_s=0.1,
        held_ramp_s=0.1,
        hold_s=0.1,
        crm_size=200,
        warmup_calls=5,
    )
    section = fastagi.run(settings, cache=tmp_path / "cache")
    data = section.data
    assert data["errors"] == []
    assert data["outcome"]["CALLPOP_OUTCOME"] == "queue"
    assert data["outcome"]["CALLPOP_TARGET"] == "complaints"
    measured = {c["key"]: c for c in data["contenders"]}
    assert set(measured) == {c.key for c in contenders()}
    for key, contender in measured.items():
        (level,) = contender["throughput"]
        expected = 5 if key == "callpop-classic" else 4 if key == "pyst2" else 12
        assert contender["throughput"][level]["calls"] == expected, key
        assert contender["memory"]["kib_per_call"] is not None, key
    table_rows = [row[0] for row in section.tables[0].rows]
    assert table_rows == [c["label"] for c in data["contenders"]]


def test_the_classic_run_measures_each_script_on_every_call(tmp_path: Path) -> None:
    (figures,) = asyncio.run(classic.run(1, 2, cache=tmp_path / "cache", crm_size=200))
    assert [(f.key, f.calls) for f in figures] == [("pyst2", 2), ("callpop-classic", 2)]
    assert all(f.cpu_ms > 0 and f.max_rss_mb > 0 for f in figures)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_are_callgrinds_count_of_the_program(tmp_path: Path) -> None:
    out = tmp_path / "callgrind"
    cheap, dear = "pass", "sum(range(3_000_000))"
    counts = []
    for code in (cheap, dear):
        subprocess.run([*classic._callgrind(out), sys.executable, "-c", code], check=True)
        counts.append(classic._instructions(out))
    assert 10_000_000 < counts[0] < counts[1] - 3_000_000  # each loop turn costs instructions


def test_a_spawned_program_reports_its_own_memory_not_the_benchmark_s(tmp_path: Path) -> None:
    """Forked from the benchmark, a small program would report the benchmark's max RSS
    (Linux keeps it across execve); spawned by bench/rusage_exec.py, its own."""
    held = bytearray(256 << 20)  # this process: over 256 MiB resident
    held[::4096] = b"x" * len(held[::4096])
    usage = tmp_path / "usage"
    for code in ("pass", "big = bytearray(300 << 20); big[::4096] = b'x' * len(big[::4096])"):
        argv = [sys.executable, "-c", code]
        subprocess.run(
            [sys.executable, "-I", "-S", str(classic.SPAWN), str(usage), *argv], check=True
        )
    small, big = (int(line.split()[1]) for line in usage.read_text().splitlines())
    assert small < 100 * 1024 < 300 * 1024 < big  # KiB


@pytest.mark.slow
def test_the_hold_run_keeps_every_call_open_on_each_server_until_the_callers_hang_up(
    tmp_path: Path,
) -> None:
    settings = hold.Settings(
        calls=40,
        rate=80,
        steady_s=0.5,
        drivers=2,
        only=("bare", "callpop-uvloop"),
        crm_size=200,
        warmup_calls=5,
    )
    section = hold.run(settings, cache=tmp_path / "cache")
    data = section.data
    assert data["errors"] == []
    rows = {r["key"]: r for r in data["rows"]}
    assert set(rows) == {"bare", "callpop-uvloop"}
    for key, row in rows.items():
        assert row["failed"] == 0, key
        # Each call walked the path to its end or was open when its caller hung up.
        assert row["completed"] + row["hung_up"] == row["calls_placed"], key
        assert 0 < row["hung_up"] <= row["open_at_plateau"], key
        assert row["server_connections"] > 0, key
        assert row["steady_commands"] > 0 and row["kib_per_call"] is not None, key
        # Every steady-state latency is counted under the step of the path it was for.
        assert sum(c["commands"] for c in row["by_command"]) == row["steady_commands"], key
    assert [r[0] for r in section.tables[0].rows] == [r["label"] for r in data["rows"]]
