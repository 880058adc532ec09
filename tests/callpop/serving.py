"""`callpop serve` as an operator starts it, for tests that need the whole process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["start_serve"]


async def start_serve(
    config: Path, *, web_secret: str | None = None, preexec_fn: Callable[[], None] | None = None
) -> asyncio.subprocess.Process:
    """`python -m callpop --config CONFIG serve` with no CALLPOP_* variable of ours but
    `CALLPOP_WEB_SECRET` when given; `preexec_fn` runs in the child (e.g. setrlimit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
    if web_secret is not None:
        env["CALLPOP_WEB_SECRET"] = web_secret
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callpop",
        "--config",
        str(config),
        "serve",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        preexec_fn=preexec_fn,
    )
