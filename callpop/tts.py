"""Prompts from their `text:`: speech a site can play before its voice talent records.

`plan` reads a loaded dialplan and lists the sounds to make: every `sound:` prompt
that has a `text:` and no recording in the given sounds folder, once per language and
name (one recording serves every flow that plays it). `render` speaks one with
espeak-ng and converts it with sox into the formats Asterisk plays, named as the flow
names the sound (its folders kept), under the language folder Asterisk looks in
first:

    OUT/en/acme-main-menu.wav    8 kHz mono 16-bit PCM (Asterisk's `wav` format)
    OUT/en/acme-main-menu.gsm    GSM 06.10, what most sites ship
    OUT/en/acme-main-menu.ulaw   raw G.711 mu-law, no transcoding on ulaw channels

Copy OUT's contents into Asterisk's sounds folder (`/var/lib/asterisk/sounds/`);
`callpop lint --sounds OUT` then finds every prompt. Both programs are Debian packages
(`espeak-ng`, `sox`; `make tts` installs them); the text goes to espeak-ng on stdin,
never as an argument, so a prompt text is never read as an option.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.flow import Prompt
from ivr.lint.context import walk
from ivr.lint.sounds import sound_exists
from ivr.loader import Dialplan
from ivr.source import quote

__all__ = ["FORMATS", "Problem", "SoundToMake", "ToolMissing", "Tools", "plan", "render"]

FORMATS = ("wav", "gsm", "ulaw")
# sox output options per format: 8 kHz mono, as Asterisk's format modules expect.
_SOX_OUTPUT: dict[str, tuple[str, ...]] = {
    "wav": ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "wav"),
    "gsm": ("-r", "8000", "-c", "1", "-t", "gsm"),
    "ulaw": ("-r", "8000", "-c", "1", "-e", "mu-law", "-t", "ul"),
}
# Loudness and a breath of silence around the words, as a studio recording has.
_SOX_EFFECTS = ("gain", "-n", "-3", "pad", "0.15", "0.25")
_WORDS_PER_MINUTE = "160"  # espeak-ng's default 175 is quick for a phone line
_TIMEOUT_S = 60


class ToolMissing(Exception):
    """espeak-ng or sox is not installed; the message says how to install it."""


@dataclass(frozen=True, slots=True)
class Tools:
    espeak: str
    sox: str

    @classmethod
    def find(cls) -> Tools:
        found = {name: shutil.which(name) for name in ("espeak-ng", "sox")}
        for name, path in found.items():
            if path is None:
                raise ToolMissing(
                    f"{name} is not installed (Debian: apt-get install {name}; "
                    "`make tts` installs espeak-ng and sox)"
                )
        espeak, sox = found["espeak-ng"], found["sox"]
        assert espeak is not None and sox is not None
        return cls(espeak, sox)


@dataclass(frozen=True, slots=True)
class SoundToMake:
    sound: str
    language: str
    text: str
    where: str  # FILE:LINE:COL of its first use with a text

    def folder(self, out: Path) -> Path:
        return out / self.language

    def files(self, out: Path) -> list[Path]:
        return [self.folder(out) / f"{self.sound}.{fmt}" for fmt in FORMATS]


@dataclass(frozen=True, slots=True)
class Problem:
    """A prompt that cannot be made: `FILE:LINE:COL: message`."""

    where: str
    message: str

    def format(self) -> str:
        return f"{self.where}: {self.message}"


def plan(
    dialplan: Dialplan, recorded: Path | None = None
) -> tuple[list[SoundToMake], list[Problem]]:
    """The sounds to make, in the order the flows first use them, and the prompts that
    cannot be made (no text, a name that climbs out of the folder, two texts)."""
    made: dict[tuple[str, str], SoundToMake] = {}
    textless: dict[tuple[str, str], str] = {}
    problems: list[Problem] = []
    for flow_id in sorted(dialplan.loaded):
        loaded = dialplan.loaded[flow_id]
        language = loaded.model.settings.language
        for path, value in walk(loaded.model):
            if not isinstance(value, Prompt) or value.sound is None:
                continue
            sound, key = value.sound, (language, value.sound)
            at = loaded.source.of(*path)  # the nearest written ancestor for a default
            where = f"{loaded.file}:{at.line}:{at.column}"
            if recorded is not None and sound_exists(recorded, sound, language):
                continue
            if ".." in Path(sound).parts:
                problems.append(
                    Problem(
                        where, f"sound {quote(sound)} climbs out of the sounds folder; not made"
                    )
                )
                continue
            if not value.text:
                textless.setdefault(key, where)
                continue
            text = " ".join(value.text.split())
            first = made.get(key)
            if first is None:
                made[key] = SoundToMake(sound, language, text, where)
            elif first.text != text:
                problems.append(
                    Problem(
                        where,
                        f"sound {quote(sound)} says {quote(text, 60)} "
                        f"here but {quote(first.text, 60)} at {first.where}; "
                        "made from the first (give each text its own sound)",
                    )
                )
    for key, where in textless.items():
        if key not in made:
            problems.append(
                Problem(
                    where,
                    f"sound {quote(key[1])} has no text: and no "
                    "recording; write its text: to make it",
                )
            )
    return list(made.values()), problems


def voice(language: str) -> str:
    """espeak-ng's voice for a flow's language (`en` -> `en-us`, `fr_CA` -> `fr-ca`)."""
    tag = language.replace("_", "-").lower()
    return "en-us" if tag == "en" else tag


def render(item: SoundToMake, out: Path, tools: Tools, voice_name: str | None = None) -> list[Path]:
    """Speak `item.text` and write it in every format of `FORMATS`; the files made.
    Raises `subprocess.CalledProcessError` (with the tool's stderr) if a tool fails."""
    files = item.files(out)
    files[0].parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="callpop-tts-") as scratch:
        spoken = Path(scratch) / "spoken.wav"
        _run(
            [
                tools.espeak,
                "-v",
                voice_name or voice(item.language),
                "-s",
                _WORDS_PER_MINUTE,
                "--stdin",
                "-w",
                str(spoken),
            ],
            stdin=item.text,
        )
        for fmt, target in zip(FORMATS, files, strict=True):
            # Written next to the target, then renamed: Asterisk never plays half a file.
            partial = target.with_name(f".{target.name}.partial")
            _run([tools.sox, str(spoken), *_SOX_OUTPUT[fmt], str(partial), *_SOX_EFFECTS])
            partial.replace(target)
    return files


def _run(argv: Sequence[str], stdin: str | None = None) -> None:
    subprocess.run(
        argv, input=stdin, text=True, capture_output=True, check=True, timeout=_TIMEOUT_S
    )
