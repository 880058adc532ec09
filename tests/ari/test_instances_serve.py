"""Two `callpop serve` processes, each with its own Stasis app on one simulated Asterisk,
one PostgreSQL database: the caller whose instance is SIGKILLed mid-IVR is continued to
`callpop-route,operator` by the survivor; the survivor's own caller is left in its IVR."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from callpop.ami.lease import lease_dsn
from callpop.pbx_sim.ari import AriSimulator
from callpop.pbx_sim.script import CallerScript
from tests.ami.test_ami_instances import Instance, database, start, wait_ready
from tests.ports import free_port

from .harness import ended

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

__all__ = ["database"]  # the fixture, shared with the AMI instances' test

# A menu that waits long for a key: the caller is still in the IVR when its instance dies.
FLOW = """\
entry: menu
nodes:
  menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: "For sales press 1."}]
    options:
      "1": sales
    timeout: 30s
    max_timeouts: 1
  sales:
    type: transfer
    queue: sales
"""
# What the survivor is allowed: a heartbeat is stale after 6 s, checks run every 2 s,
# an orphan gets 1 s of grace; the rest is slack for a loaded machine.
TAKEOVER_BOUND_S = 20.0


def write_config(tmp_path: Path, app: str, database: str, ari_url: str, web_port: int) -> Path:
    root = tmp_path / app
    (root / "dialplan" / "flows").mkdir(parents=True)
    (root / "dialplan" / "flows" / "main.yaml").write_text(FLOW, encoding="utf-8")
    (root / "ari.secret").write_text("pw\n", encoding="utf-8")
    path = root / "callpop.yaml"
    path.write_text(
        f"fastagi: 127.0.0.1:{free_port()}\nweb: 127.0.0.1:{web_port}\n"
        f"database: {database}\ndialplan: ./dialplan\nshutdown_grace_s: 1\n"
        f"ari: {{url: '{ari_url}', username: callpop, password_file: ari.secret, app: {app}}}\n",
        encoding="utf-8",
    )
    return path


async def session_owner(database: str, channel_id: str) -> str | None:
    dsn = lease_dsn(database)
    assert dsn is not None
    conn = await asyncpg.connect(dsn)
    try:
        owner = await conn.fetchval(
            "SELECT instance FROM ari_sessions WHERE channel_id = $1", channel_id
        )
    finally:
        await conn.close()
    return str(owner) if owner is not None else None


async def test_the_caller_of_a_killed_instance_goes_to_the_operator_through_a_survivor(
    tmp_path: Path, database: str
) -> None:
    sim = AriSimulator(username="callpop", password="pw")
    async with sim.serve() as url:
        ports = {app: free_port() for app in ("callpop-a", "callpop-b")}
        instances: dict[str, Instance] = {
            app: await start(write_config(tmp_path, app, database, url, port), port)
            for app, port in ports.items()
        }
        try:
            for app, instance in instances.items():
                await wait_ready(instance)
                await sim.wait_for_app(app)
            doomed = sim.call(
                CallerScript.parse("", uniqueid="1795389902.31"),
                app="callpop-a",
                args=("flow=main",),
            )
            kept = sim.call(
                CallerScript.parse("", uniqueid="1795389902.32"),
                app="callpop-b",
                args=("flow=main",),
            )
            await sim.until(lambda: bool(doomed.played) and bool(kept.played))
            owner = await session_owner(database, doomed.channel_id)
            assert owner is not None and owner.endswith(f"/{instances['callpop-a'].proc.pid}")

            instances["callpop-a"].proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert await ended(doomed, TAKEOVER_BOUND_S) == "continued"
            waited_s = time.monotonic() - killed_at
            assert doomed.continued_to == ("callpop-route", "operator", 1)
            assert waited_s < TAKEOVER_BOUND_S
            # the survivor's own caller is still in its menu
            assert not kept.ended.done()
            assert sim.state.channels[kept.channel_id].stasis_app == "callpop-b"
        finally:
            for instance in instances.values():
                if instance.proc.returncode is None:
                    instance.proc.send_signal(signal.SIGTERM)
            for instance in instances.values():
                try:
                    async with asyncio.timeout(20):
                        await instance.proc.wait()
                except TimeoutError:
                    instance.proc.kill()
                    await instance.proc.wait()
