"""The limit: a bare asyncio FastAGI server with no logic at all. It reads the
environment block, sends the transcript's commands one at a time, reading each answer
line, and closes. Nothing is parsed, decided, logged or stored.

    python -m bench.peers.bare TRANSCRIPT.json [--loop asyncio|uvloop]
"""

from __future__ import annotations

import asyncio

from bench.peers.common import arguments, load, serve_forever


def main() -> None:
    args = arguments(__doc__ or "")
    commands = [(step.command + "\n").encode() for step in load(args).steps]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readline()) not in (b"\n", b""):
                pass
            for command in commands:
                writer.write(command)
                answer = await reader.readline()
                if not answer or answer == b"HANGUP\n":
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    serve_forever(lambda: handle, args.loop)


if __name__ == "__main__":
    main()
