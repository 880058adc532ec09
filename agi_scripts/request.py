"""What a FastAGI route, or the classic script, is handed for one call: the request
(`AgiRequest`), the call's log lines (`CallLog`) and the routes themselves (`Route`).

Apart from the server (server.py), so that the classic script, a process per call,
imports none of the server's asyncio machinery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agi_scripts.channel import AgiChannel
    from agi_scripts.codec import Environment

__all__ = ["AgiRequest", "CallLog", "Route", "RouteHandler"]


class Peer(Protocol):
    """The far end of a FastAGI connection (an `AgiWire`)."""

    @property
    def peername(self) -> str: ...


class CallLog:
    """Log lines of one call: prefixed with its uniqueid, which is also in `extra`
    (`uniqueid`, `peer`).

    Made for every call and used by few: it keeps its references and builds the
    `extra` dict and the `LoggerAdapter` only when a line is logged. `peer` may be the
    call's `AgiWire`, whose address is then formatted only then too."""

    __slots__ = ("logger", "peer", "uniqueid")

    def __init__(self, logger: logging.Logger, uniqueid: str | None, peer: Peer | str) -> None:
        self.logger = logger
        self.uniqueid = uniqueid
        self.peer = peer

    def _adapter(self) -> _CallAdapter:
        peer = self.peer
        return _CallAdapter(
            self.logger,
            {
                "uniqueid": self.uniqueid,
                "peer": peer if isinstance(peer, str) else peer.peername,
            },
        )

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self._adapter().debug(msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self._adapter().info(msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(logging.WARNING):
            self._adapter().warning(msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(logging.ERROR):
            self._adapter().error(msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(logging.ERROR):
            kwargs.setdefault("exc_info", True)
            self._adapter().error(msg, *args, **kwargs)


class _CallAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = self.extra or {}
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[{extra.get('uniqueid') or extra.get('peer')}] {msg}", kwargs


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """What a route handler gets: the call's environment, its route's query, and the
    channel to drive. `query` values are percent-decoded; `+` stays a plus (AGI URLs
    carry phone numbers: `who=+15551234567`, env-callerid.txt)."""

    environment: Environment
    path: str
    query: Mapping[str, str]
    channel: AgiChannel
    log: CallLog


RouteHandler = Callable[[AgiRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """`agi://host:port/<path>?...` runs `handler`. Paths compare without slashes."""

    path: str
    handler: RouteHandler = field(compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", self.path.strip("/"))
