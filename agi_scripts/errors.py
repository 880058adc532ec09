"""The AGI driver's errors, typed by whose fault they are (h11's `_util.py`)."""

from __future__ import annotations

__all__ = ["AgiError", "LocalProtocolError", "RemoteProtocolError"]


class AgiError(Exception):
    """Base of the AGI codec's errors."""


class LocalProtocolError(AgiError):
    """We broke the protocol (a driver bug): a second command while one is in flight,
    a command too long for Asterisk's line buffer, a channel command after a hang-up."""


class RemoteProtocolError(AgiError):
    """The peer sent something no Asterisk sends: that connection cannot go on."""
