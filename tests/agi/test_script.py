"""The classic AGI script, run as Asterisk runs it: a process whose stdin/stdout the
simulated Asterisk drives, with SIGHUP for hang-ups and for the end of the AGI."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from callpop.journeys import JourneyStore
from callpop.pbx_sim.fastagi import CallRecord, call_agi_script
from callpop.pbx_sim.script import CallerScript
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr import variables as v

FLOW = """\
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts: [acme-main-menu]
    options:
      "1": {goto: billing_menu, topic: billing}
      "2": goodbye
  billing_menu:
    type: menu
    prompts: [acme-billing-menu]
    options:
      "1": {goto: payments, topic: payments}
  payments: {type: transfer, queue: billing, priority: 2, prompts: [pls-hold-while-try]}
  goodbye: {type: hangup, prompts: [goodbye]}
"""
UNIQUEID, LINKEDID = "1795389902.7", "1795389902.6"


@pytest.fixture
async def site(tmp_path: Path) -> Path:
    """A callpop.yaml with its dialplan and a migrated SQLite database; returns the config."""
    (tmp_path / "dialplan" / "flows").mkdir(parents=True)
    (tmp_path / "dialplan" / "flows" / "main.yaml").write_text(FLOW)
    config = tmp_path / "callpop.yaml"
    config.write_text("database: sqlite:///./callpop.db\ndialplan: ./dialplan\n")
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return config


async def run_script(config: Path, keys: str, *args: str) -> tuple[CallRecord, int, str]:
    argv = [sys.executable, "-m", "callpop.agi_script", *(args or (str(config), "main"))]
    caller = CallerScript.parse(keys, uniqueid=UNIQUEID, linkedid=LINKEDID)
    # Asterisk runs scripts in its own working directory, never in the config's.
    async with asyncio.timeout(60):
        record, status, stderr = await call_agi_script(
            argv,
            caller,
            args=argv[1:],
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(config.parent / "cache")},
        )
    return record, status, stderr.decode("utf-8", "replace")


async def saved_journey(config: Path) -> dict[str, Any] | None:
    engine = create_engine(f"sqlite:///{config.parent / 'callpop.db'}")
    try:
        return await JourneyStore(engine).get(LINKEDID)
    finally:
        await engine.dispose()


async def test_the_script_runs_a_whole_path_over_stdin_and_stdout(site: Path) -> None:
    record, status, stderr = await run_script(site, "1 1")
    assert (status, stderr) == (0, "")
    assert record.variables[v.OUTCOME] == "queue"
    assert (record.variables[v.QUEUE], record.variables[v.PRIORITY]) == ("billing", "2")
    assert record.variables[v.CALL_ID] == LINKEDID
    assert record.ended == "server-closed"  # the script closed its stdout: the AGI ended
    assert record.commands[:2] == [b'GET VARIABLE "CHANNEL(linkedid)"', b"ANSWER"]
    journey = await saved_journey(site)  # saved after the AGI ended, despite the SIGHUP
    assert journey is not None
    assert [step["node"] for step in journey["steps"]] == ["main_menu", "billing_menu", "payments"]
    assert journey["outcome"]["type"] == "queue"


async def test_a_hangup_is_a_sighup_and_the_journey_says_where(site: Path) -> None:
    record, status, stderr = await run_script(site, "1 h")
    assert (status, stderr) == (0, "")
    assert record.hung_up_by == "caller"
    assert v.OUTCOME not in record.variables
    journey = await saved_journey(site)
    assert journey is not None
    assert [step["node"] for step in journey["steps"]] == ["main_menu", "billing_menu"]
    assert journey["outcome"]["reason"] == "caller-hangup"


async def test_the_application_hangs_up_with_the_hangup_command(site: Path) -> None:
    record, status, stderr = await run_script(site, "2")
    assert (status, stderr) == (0, "")
    assert record.variables[v.OUTCOME] == "hangup"
    assert record.hung_up_by == "application"


async def test_without_its_config_the_caller_goes_to_the_operator(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    record, status, stderr = await run_script(missing, "1 1", str(missing), "main")
    assert status == 1
    assert record.variables[v.OUTCOME] == "error"  # the `error` route is the operator
    assert str(missing) in stderr and "Traceback" not in stderr


async def test_bad_arguments_print_the_usage() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callpop.agi_script",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 2 and b"usage:" in stderr and stdout == b""


async def test_garbage_on_stdin_is_refused(site: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callpop.agi_script",
        str(site),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate(b"hello\nworld\n\n")
    assert proc.returncode == 1 and b"not an AGI environment" in stderr and stdout == b""


async def test_a_call_on_a_sqlite_site_loads_no_event_loop(site: Path) -> None:
    """A process per call pays for every import (bench.classic: asyncio, with ssl and
    socket, ~25 ms of CPU and ~4 MB a call): from a warm cache, a SQLite site's call runs
    the runner without a loop. The modules are listed as the script's process exits."""
    await run_script(site, "2")  # fills the flow cache (a miss loads the whole stack)
    modules = site.parent / "modules.txt"
    program = (
        "import atexit, runpy, sys\n"
        "def listed():\n"
        f"    with open({str(modules)!r}, 'w') as out:\n"
        "        out.write('\\n'.join(sorted(sys.modules)))\n"
        "atexit.register(listed)\n"
        "sys.argv[0] = 'callpop.agi_script'\n"
        "runpy.run_module('callpop.agi_script', run_name='__main__', alter_sys=True)\n"
    )
    argv = [sys.executable, "-c", program, str(site), "main"]
    async with asyncio.timeout(60):
        record, status, stderr = await call_agi_script(
            argv,
            CallerScript.parse("1 1", uniqueid=UNIQUEID, linkedid=LINKEDID),
            args=argv[3:],
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(site.parent / "cache")},
        )
    assert (status, stderr) == (0, b"")
    assert record.variables[v.OUTCOME] == "queue"
    loaded = set(modules.read_text().split())
    assert {"agi_scripts.pipes", "ivr.runner", "ivr.sequential"} <= loaded
    assert not {m.split(".")[0] for m in loaded} & {"asyncio", "ssl", "sqlalchemy", "pydantic"}


@pytest.mark.postgres
async def test_a_call_on_a_postgresql_site_runs_the_whole_stack_on_an_event_loop(
    tmp_path: Path, pg_database: str
) -> None:
    (tmp_path / "dialplan" / "flows").mkdir(parents=True)
    (tmp_path / "dialplan" / "flows" / "main.yaml").write_text(FLOW)
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: {pg_database}\ndialplan: ./dialplan\n")
    for _ in range(2):  # a cold cache, then a warm one
        record, status, stderr = await run_script(config, "1 1")
        assert (status, stderr) == (0, "")
        assert record.variables[v.OUTCOME] == "queue"
    engine = create_engine(pg_database)
    try:
        journey = await JourneyStore(engine).get(LINKEDID)
    finally:
        await engine.dispose()
    assert journey is not None and journey["outcome"]["type"] == "queue"
