"""One open panel socket: its outbox, writer and heartbeat.

The hub never awaits a socket: it puts frames in the panel's bounded outbox, and the
panel's writer task sends them. A socket that falls `OUTBOX_FRAMES` behind is closed
(the page reconnects and resyncs) rather than holding frames for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import WSCloseCode, web

from screenpop.protocol import Dead, PanelProtocol, SendPing
from screenpop.store import Account

__all__ = ["OUTBOX_FRAMES", "Panel"]

log = logging.getLogger(__name__)

OUTBOX_FRAMES = 512  # frames queued for one socket before it is deemed stuck


@dataclass(eq=False, slots=True)
class Panel:
    """An agent's tab, a widget on a CRM page, or a supervisor's wallboard."""

    ws: web.WebSocketResponse
    account: Account
    protocol: PanelProtocol
    embed_origin: str | None = None
    view: Literal["panel", "wallboard"] = "panel"
    outbox: asyncio.Queue[str | None] = field(
        default_factory=lambda: asyncio.Queue(OUTBOX_FRAMES))
    stuck: bool = False

    def send(self, frame: str) -> None:
        """Queue a frame; never waits."""
        if self.stuck:
            return
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.stuck = True
            self.outbox.get_nowait()
            self.outbox.put_nowait(None)  # tells the writer to close the socket

    async def write(self) -> None:
        """Send queued frames until the socket goes or the panel is stuck."""
        while True:
            frame = await self.outbox.get()
            if frame is None:
                log.warning("panel of %s fell %d frames behind: closing it",
                            self.account.name, OUTBOX_FRAMES)
                await self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")
                return
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the socket went away; the reader's loop ends on its own

    async def heartbeat(self, monotonic: Callable[[], float],
                        embed_token: Callable[[Account, str], str] | None) -> None:
        """Ping the page every heartbeat; close a page that went silent. Widget
        sockets also get a fresh embed token, so they can always reconnect."""
        while True:
            await asyncio.sleep(self.protocol.heartbeat_s / 2)
            verdict = self.protocol.tick(now=monotonic())
            if isinstance(verdict, SendPing):
                self.send(verdict.frame)
                if (self.embed_origin is not None and embed_token is not None
                        and self.protocol.hello is not None):
                    self.send(self.protocol.token(embed_token(self.account, self.embed_origin)))
            elif isinstance(verdict, Dead):
                log.info("panel of %s silent for %.0f s: closing", self.account.name,
                         verdict.silent_s)
                await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"no heartbeat")
                return
