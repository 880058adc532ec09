"""What every peer server shares: its command line and how it says it is ready."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.agi_transcript import Transcript

__all__ = ["Handler", "arguments", "serve_forever"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("transcript", type=Path)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    return parser.parse_args()


def load(args: argparse.Namespace) -> Transcript:
    return Transcript.load(args.transcript)


def serve_forever(make_handler: Callable[[], Handler], loop_kind: str) -> None:
    """Listen on 127.0.0.1, a free port, with a backlog for thousands of calls; print
    `READY <port>` once accepting; run until killed. The handler is made inside the
    running loop (panoramisk's `Application` takes the loop when built)."""

    # A socket per held call (the hold benchmark): the soft open-file limit up to the
    # hard one, as `callpop serve` does.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> None:
        server = await asyncio.start_server(make_handler(), "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"READY {port}\n")
        sys.stdout.flush()
        async with server:
            await server.serve_forever()

    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
