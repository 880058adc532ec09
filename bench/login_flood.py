"""A login flood against `callpop serve` at production argon2 cost: the server's peak
memory, and how long FastAGI calls take meanwhile (issue 18: forty concurrent bad logins
took the process from 112 to 437 MB and made calls 8x slower).

    python -m bench.login_flood [--logins 40] [--rounds 3] [--calls 20]

Each bad login comes from its own address (through `web_trusted_proxies`), so the
per-address limits do not stop it: what bounds the work is the login gate. Prints one
JSON object: RSS before and peak (VmHWM), the statuses the flood got, and the median
FastAGI call time idle and during the flood. Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.procstat import rss_kib
from bench.server_proc import free_port
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.auth import Passwords
from screenpop.sqlstore import SqlScreenpopStore

FLOW = """\
entry: menu
nodes:
  menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: "For billing press 1."}]
    options:
      "1": {goto: billing}
  billing:
    type: transfer
    queue: billing
"""


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def _setup(root: Path, agi: int, web: int) -> Path:
    (root / "dialplan" / "flows").mkdir(parents=True)
    (root / "dialplan" / "flows" / "main.yaml").write_text(FLOW)
    config = root / "callpop.yaml"
    config.write_text(
        f"fastagi: 127.0.0.1:{agi}\nweb: 127.0.0.1:{web}\n"
        "database: sqlite:///./callpop.db\ndialplan: ./dialplan\n"
        "web_trusted_proxies: [127.0.0.1]\n"
    )
    engine = create_engine(f"sqlite:///{root / 'callpop.db'}")
    try:
        await upgrade(engine)
        await SqlScreenpopStore(engine).add_account(
            "alice", "PJSIP/101", "agent", Passwords().hash("correct horse battery")
        )
    finally:
        await engine.dispose()
    return config


async def _calls(port: int, count: int) -> list[float]:
    async def one(n: int) -> float:
        start = time.perf_counter()
        await call_fastagi(
            "127.0.0.1",
            port,
            CallerScript.parse(
                "1", caller=CallerId(f"+1555000{n:04d}", "Bench"), uniqueid=f"1795000000.{n}"
            ),
        )
        return time.perf_counter() - start

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def _flood(base: str, logins: int, round_: int) -> list[int]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/login") as page:
            token = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]

    async def guess(n: int) -> int:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.post(
                f"{base}/login",
                allow_redirects=False,
                data={"_csrf": token, "name": f"user{n}", "password": "guess"},
                headers={
                    "Cookie": f"callpop_login={token}",
                    "X-Forwarded-For": f"10.{round_}.{n // 250}.{n % 250}",
                },
            ) as r,
        ):
            await r.read()
            return r.status

    return list(await asyncio.gather(*(guess(n) for n in range(logins))))


async def main(logins: int, rounds: int, calls: int) -> dict[str, Any]:
    agi, web = free_port(), free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = await _setup(Path(folder), agi, web)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
        env["CALLPOP_WEB_SECRET"] = "k" * 32
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callpop",
            "--config",
            str(config),
            "serve",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        base = f"http://127.0.0.1:{web}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(600):
                    try:
                        async with http.get(f"{base}/readyz") as ready:
                            if ready.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
            idle = await _calls(agi, calls)
            rss_before = rss_kib(proc.pid)
            statuses: Counter[int] = Counter()
            during: list[float] = []
            for round_ in range(rounds):
                flood = asyncio.create_task(_flood(base, logins, round_))
                during += await _calls(agi, calls)
                statuses.update(await flood)
            return {
                "logins": logins,
                "rounds": rounds,
                "rss_before_mib": round(rss_before / 1024, 1),
                "rss_peak_mib": round(_hwm_kib(proc.pid) / 1024, 1),
                "statuses": dict(statuses),
                "call_s_idle_median": round(statistics.median(idle), 3),
                "call_s_during_flood_median": round(statistics.median(during), 3),
            }
        finally:
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.logins, args.rounds, args.calls))))
