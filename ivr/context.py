"""What a call knows about itself: the names conditions and prompt templates read.

One object per call holds the four roots of the condition language (`vars`,
`customer`, `caller`, `call`) as live dictionaries, so a branch evaluates against
them without copying anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.conditions import Context, Scalar
from ivr.events import CustomerValue

__all__ = ["CallContext"]


class CallContext:
    def __init__(
        self, *, call_id: str, flow: str, caller_number: str, caller_name: str, dnis: str
    ) -> None:
        self.vars: dict[str, Scalar] = {}
        self.customer: dict[str, Scalar] = {"found": False}
        self._roots: dict[str, dict[str, Scalar]] = {
            "vars": self.vars,
            "customer": self.customer,
            "caller": {"number": caller_number, "name": caller_name},
            "call": {"dnis": dnis, "id": call_id, "flow": flow},
        }

    @property
    def conditions(self) -> Context:
        """The context a `Condition` evaluates against."""
        return self._roots

    def value(self, name: str) -> Scalar:
        """The value of `root.field`, or None (templates)."""
        root, _, field = name.partition(".")
        fields = self._roots.get(root)
        return None if fields is None else fields.get(field)

    def customer_found(self, fields: Mapping[str, CustomerValue], matches: int) -> None:
        """A lookup found the caller: `customer.*` becomes that record."""
        self.customer.clear()
        self.customer.update(fields)
        self.customer["found"] = True
        self.customer["matches"] = max(matches, 1)
