"""The control socket of `serve`: how `callpop reload` reaches the running instance.

A Unix socket (`reload.socket` in callpop.yaml), as Asterisk's own `asterisk -rx`
reaches its console: the file's permissions are the authentication, nothing listens
on the network, and the CLI gets the answer (accepted or refused, with the findings)
instead of firing a signal into the dark. HTTP over it, JSON in and out:

    POST /reload   -> ReloadResult.to_dict()  (200 accepted, 422 refused)
    GET  /version  -> {"hash", "loaded_at", "instance"}
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from callpop.reload import DialplanReloader

__all__ = ["ControlUnreachable", "control_app", "control_socket", "request"]

log = logging.getLogger("callpop.control")

_RELOADER = web.AppKey("reloader", DialplanReloader)
_TIMEOUT_S = 60.0  # a reload lints the whole dialplan: seconds at most, even on a loaded host


class ControlUnreachable(Exception):
    """No `serve` answers on the control socket; the message says which and why."""


async def _reload(request: web.Request) -> web.Response:
    result = await request.app[_RELOADER].reload("control")
    return web.json_response(result.to_dict(), status=200 if result.accepted else 422)


async def _version(request: web.Request) -> web.Response:
    reloader = request.app[_RELOADER]
    return web.json_response({**reloader.version.to_dict(), "instance": reloader.instance})


def control_app(reloader: DialplanReloader) -> web.Application:
    app = web.Application()
    app[_RELOADER] = reloader
    app.router.add_post("/reload", _reload)
    app.router.add_get("/version", _version)
    return app


@contextlib.asynccontextmanager
async def control_socket(reloader: DialplanReloader, path: Path) -> AsyncIterator[None]:
    """Serve the control app on `path` until the block ends. A socket file left by a
    process that died is replaced; one that a live `serve` answers on is not."""
    if _is_socket(path):
        try:
            await request(path, "GET", "/version")
        except ControlUnreachable:
            _remove(path)  # stale: its process is gone
        else:
            raise OSError(errno.EADDRINUSE, f"another callpop serve answers on {path}")
    runner = web.AppRunner(control_app(reloader), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.UnixSite(runner, str(path)).start()
        _owner_only(path)
        log.info("control: `callpop reload` reaches this instance on %s", path)
        yield
    finally:
        await runner.cleanup()
        _remove(path)


# The socket file's bookkeeping: one system call each, at start and stop only.


def _is_socket(path: Path) -> bool:
    return path.is_socket()


def _owner_only(path: Path) -> None:
    path.chmod(0o600)  # only the user serve runs as may reload it


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


async def request(path: Path, method: str, route: str) -> tuple[int, dict[str, Any]]:
    """One request to the control socket at `path`: (status, JSON body)."""
    try:
        connector = aiohttp.UnixConnector(path=str(path))
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.request(method, f"http://callpop{route}") as response:
                body = await response.json()
                return response.status, body
    except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlUnreachable(
            f"no callpop serve answers on {path} ({exc.__class__.__name__}): "
            "is it running with this config (reload.socket)?"
        ) from None
    except (TimeoutError, aiohttp.ContentTypeError) as exc:
        raise ControlUnreachable(f"{path} did not answer as callpop serve does: {exc!r}") from None
