"""The engine's errors, typed by whose fault they are (as h11's `_util.py`).

- `SessionError`: the driver broke the `Session` contract (an event that does not
  answer the pending action, an event after the end). A driver bug.
- `FlowError`: the flow cannot run as written at this point of the call (a node that
  does not exist, a condition or schedule that does not parse). `callpop lint`
  reports all of these before a flow goes live; the engine meets them only with an
  unlinted flow.

After either, the session is finished: its journey's outcome is `error`, and the
runner sends the caller back to the dialplan with `CALLPOP_OUTCOME=error`, whose
fallback is the operator. A caller never hears silence because of them.
"""

from __future__ import annotations

__all__ = ["FlowError", "SessionError"]


class SessionError(Exception):
    """The driver fed the session an event it cannot take now (a driver bug)."""


class FlowError(Exception):
    """The flow cannot be run as written: `flow` and `node` say where."""

    def __init__(self, message: str, *, flow: str, node: str | None = None) -> None:
        where = f"{flow}:{node}" if node is not None else flow
        super().__init__(f"{where}: {message}")
        self.flow = flow
        self.node = node
