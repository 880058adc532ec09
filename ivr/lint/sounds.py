"""Prompts whose recordings are missing from a sounds folder (`lint --sounds DIR`).

Asterisk plays a sound NAME from the first NAME.FORMAT it finds among the formats it
has codecs for, in its language folder first, then the folder itself. Run against
`/usr/share/asterisk/sounds/en_US_f_Allison/` (Debian's core prompts), the findings
are exactly the recordings a site must make, each with the text to record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ivr.flow import Prompt
from ivr.lint.context import LintContext, walk
from ivr.source import Finding, quote

__all__ = ["SOUND_FORMATS", "check_missing_sounds", "sound_exists"]

# The file extensions of Asterisk's format modules (format_*.so).
SOUND_FORMATS = (
    "wav",
    "WAV",
    "wav16",
    "gsm",
    "ulaw",
    "ul",
    "mu",
    "pcm",
    "alaw",
    "al",
    "sln",
    "raw",
    "sln12",
    "sln16",
    "sln24",
    "sln32",
    "sln44",
    "sln48",
    "sln96",
    "sln192",
    "g722",
    "g729",
    "g723",
    "g726-16",
    "g726-24",
    "g726-32",
    "g726-40",
    "siren7",
    "siren14",
    "ilbc",
    "opus",
    "ogg",
    "vox",
)


def sound_exists(folder: Path, name: str, language: str) -> bool:
    """Whether Asterisk would find sound `name` under `folder` for `language`."""
    for base in (folder / language, folder):
        for extension in SOUND_FORMATS:
            if (base / f"{name}.{extension}").is_file():
                return True
    return False


def check_missing_sounds(ctx: LintContext) -> Iterator[Finding]:
    """missing-sound: every sound a flow plays is in the --sounds folder. One finding
    per sound and flow, where it is first used."""
    folder = ctx.sounds
    if folder is None:
        return
    for loaded in ctx.flows():
        flow = loaded.model
        language = flow.settings.language
        reported: set[str] = set()
        for path, value in walk(flow):
            if not isinstance(value, Prompt) or value.sound is None or value.sound in reported:
                continue
            climbs = ".." in Path(value.sound).parts
            # A name that climbs out of the folder is never looked up outside it.
            if not climbs and sound_exists(folder, value.sound, language):
                continue
            reported.add(value.sound)
            say = f": record {quote(value.text, 100)}" if value.text else ""
            where = "is outside" if climbs else "is not in"
            message = (
                f"sound {quote(value.sound)} {where} {folder} (as .wav, .gsm, .ulaw, ...){say}"
            )
            if loaded.source.find(*path) is None:
                # A default of the model, not written in the file: say where it comes from.
                field = ".".join(str(p) for p in path if not isinstance(p, int))
                message += f" (the default of {field})"
            yield ctx.at("missing-sound", flow.id, path, message)
