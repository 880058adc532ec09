"""What every AGI call of a site repeats, kept once per server instead of once per call.

Each call's environment block carries the same ~25 names, in the same order, and values
that are the same for the whole site (the request URL, language, context, Asterisk
version). A held call that kept its own copy of each would spend ~1.5 KiB on them; with
one `InternTable` per FastAGI server (made by the server, handed to each connection's
codec) the calls share one string per name and value, and one name -> position layout
(`Environment` then keeps only a tuple of its values).

The names and values come from the peer, so the table is bounded: once full, what is
new is simply not shared (each call keeps its own), and a peer that sends new names on
every call costs a lookup, never memory. Nothing here is process-wide: two servers,
or a test's codec, have tables of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["DEFAULT_MAX_LAYOUTS", "DEFAULT_MAX_STRINGS", "InternTable"]

# A site has a few dozen names (agi_arg_N adds up to 128: MAX_ARGS in res_agi.c) and a
# few values per name that are the same on every call; layouts differ by the AGI()
# arguments a dialplan passes. Ample for a site, small to a hostile peer.
DEFAULT_MAX_STRINGS: Final = 2048
DEFAULT_MAX_LAYOUTS: Final = 256


class InternTable:
    """One shared copy of each repeated string and key layout, up to a bound."""

    __slots__ = ("_layouts", "_strings", "max_layouts", "max_strings")

    def __init__(
        self, *, max_strings: int = DEFAULT_MAX_STRINGS, max_layouts: int = DEFAULT_MAX_LAYOUTS
    ) -> None:
        self.max_strings = max_strings
        self.max_layouts = max_layouts
        self._strings: dict[str, str] = {}
        self._layouts: dict[tuple[str, ...], Mapping[str, int]] = {}

    def text(self, value: str) -> str:
        """The table's copy of `value` (this one, kept, if there is room)."""
        shared = self._strings.get(value)
        if shared is not None:
            return shared
        if len(self._strings) < self.max_strings:
            self._strings[value] = value
        return value

    def layout(self, names: tuple[str, ...]) -> Mapping[str, int]:
        """Name -> position in `names`, shared by every block that sent these names."""
        shared = self._layouts.get(names)
        if shared is not None:
            return shared
        made = {name: i for i, name in enumerate(names)}
        if len(self._layouts) < self.max_layouts:
            self._layouts[names] = made
        return made

    @property
    def sizes(self) -> tuple[int, int]:
        """(strings, layouts) held: never above the bounds."""
        return len(self._strings), len(self._layouts)
