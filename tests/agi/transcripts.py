"""Read the recorded FastAGI transcripts in tests/fixtures/asterisk/agi/.

A transcript line is `< X` (Asterisk wrote X), `> X` (the server wrote X) or a `#` note;
X is the line's bytes exactly, without its "\\n" (a `\\r` stays in the file as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "asterisk" / "agi"


@dataclass(frozen=True)
class Transcript:
    name: str
    lines: tuple[tuple[str, bytes], ...]  # ("<" | ">", line)

    @property
    def environment(self) -> bytes:
        """The environment block as Asterisk sent it, ending with its empty line."""
        out = bytearray()
        for who, line in self.lines:
            assert who == "<", f"{self.name}: the server spoke before the end of the environment"
            out += line + b"\n"
            if line == b"":
                return bytes(out)
        raise AssertionError(f"{self.name}: no end of environment")

    def after_environment(self) -> tuple[tuple[str, bytes], ...]:
        for i, (_who, line) in enumerate(self.lines):
            if line == b"":
                return self.lines[i + 1 :]
        raise AssertionError(f"{self.name}: no end of environment")

    def asterisk_bytes(self) -> bytes:
        return b"".join(line + b"\n" for who, line in self.lines if who == "<")

    def exchanges(self) -> list[tuple[bytes | None, list[bytes]]]:
        """(server line, Asterisk lines that follow it) pairs after the environment;
        Asterisk lines before any server line come with None as the server line."""
        out: list[tuple[bytes | None, list[bytes]]] = []
        for who, line in self.after_environment():
            if who == ">":
                out.append((line, []))
            elif out:
                out[-1][1].append(line)
            else:
                out.append((None, [line]))
        return out


def load(name: str) -> Transcript:
    raw = (FIXTURES / name).read_bytes()
    lines = []
    for line in raw.split(b"\n"):
        if line.startswith(b"< ") or line == b"<":
            lines.append(("<", line[2:]))
        elif line.startswith(b"> ") or line == b">":
            lines.append((">", line[2:]))
    return Transcript(name, tuple(lines))


def all_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.txt"))
