"""What a call knows about itself: the names conditions and prompt templates read.

One object per call holds the roots of the condition language (`vars`,
`customer`, `caller`, `call`, `queue`) as live dictionaries, so a branch evaluates against
them without copying anything. It is itself the `Context` a condition evaluates
against; `caller` and `call`, fixed for the call, are made into dictionaries only when
first read (many flows never read them, and a held call then keeps two fewer).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ivr.conditions import Context, Scalar
from ivr.events import CustomerValue, QueueValue

__all__ = ["CallContext"]

_ROOTS = ("vars", "customer", "caller", "call", "queue")


class CallContext(Mapping[str, Mapping[str, Scalar]]):
    __slots__ = ("_call", "_caller", "_fixed", "_queue", "customer", "vars")

    def __init__(
        self, *, call_id: str, flow: str, caller_number: str, caller_name: str, dnis: str
    ) -> None:
        self.vars: dict[str, Scalar] = {}
        self.customer: dict[str, Scalar] = {"found": False, "count": 0}
        # (number, name, dnis, id, flow) until `caller` or `call` is first read.
        self._fixed = (caller_number, caller_name, dnis, call_id, flow)
        self._caller: dict[str, Scalar] | None = None
        self._call: dict[str, Scalar] | None = None
        # `queue.Q.X` as {"Q.X": value}, made when a branch first reads queue state.
        self._queue: dict[str, Scalar] | None = None

    @property
    def conditions(self) -> Context:
        """The context a `Condition` evaluates against."""
        return self

    def value(self, name: str) -> Scalar:
        """The value of `root.field`, or None (templates)."""
        root, _, field = name.partition(".")
        fields = self._root(root)
        return None if fields is None else fields.get(field)

    def get(self, root: str, default: Any = None) -> Any:
        """A condition's `root.field` looks its root up here, once per evaluation."""
        fields = self._root(root)
        return default if fields is None else fields

    def _root(self, root: str) -> dict[str, Scalar] | None:
        if root == "vars":
            return self.vars
        if root == "customer":
            return self.customer
        if root == "caller":
            if self._caller is None:
                number, name = self._fixed[0], self._fixed[1]
                self._caller = {"number": number, "name": name}
            return self._caller
        if root == "call":
            if self._call is None:
                _, _, dnis, call_id, flow = self._fixed
                self._call = {"dnis": dnis, "id": call_id, "flow": flow}
            return self._call
        if root == "queue":
            return {} if self._queue is None else self._queue
        return None

    def __getitem__(self, root: str) -> Mapping[str, Scalar]:
        fields = self._root(root)
        if fields is None:
            raise KeyError(root)
        return fields

    def __iter__(self) -> Iterator[str]:
        return iter(_ROOTS)

    def __len__(self) -> int:
        return len(_ROOTS)

    def customer_found(self, fields: Mapping[str, CustomerValue], matches: int) -> None:
        """A lookup found the caller: `customer.*` becomes that record."""
        self.customer.clear()
        self.customer.update(fields)
        tier = fields.get("tier")
        if isinstance(tier, str):
            self.customer["tier"] = tier.lower()  # compared without case: ivr.conditions
        self.customer["found"] = True
        self.customer["count"] = self.customer["matches"] = max(matches, 1)

    def queues_looked(self, queues: Mapping[str, Mapping[str, QueueValue]]) -> None:
        """Fresh queue state: `queue.Q.X` reads these (a queue absent here is null)."""
        fields: dict[str, Scalar] = {}
        for name, values in queues.items():
            for field, value in values.items():
                fields[f"{name}.{field}"] = value
        self._queue = fields

    def customer_candidates(self, count: int) -> None:
        """A lookup found `count` customers (0, or several sharing the number): none of
        them is the caller's record, so `customer.*` holds only that count."""
        self.customer.clear()
        self.customer.update({"found": False, "count": count, "matches": count})
