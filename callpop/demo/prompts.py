"""What each prompt says, for the test phone: a sound name -> the `text:` the flows give it,
and the recording the phone plays, when there is one.

The IVR sends Asterisk sound names (`STREAM FILE acme-main-menu`), not text; the test
phone shows the text the flow files wrote for the voice talent. A name with no text
anywhere (a core Asterisk prompt used bare) is shown by its name.

With a sounds folder (`callpop demo --sounds DIR`, e.g. what `callpop prompts render`
made) the phone also plays each prompt found there as `LANG/NAME.wav` or `NAME.wav`, the
files Asterisk would play, and the prompt lasts as long as its recording. Without one,
how long a prompt lasts is made up from its words at a speaking pace, so that the demo
feels like a call (a menu takes seconds, "Hello." does not). `pace` scales both (tests
use a fast pace, the demo the real one).
"""

from __future__ import annotations

import wave
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from ivr.flow import Flow, Prompt
from ivr.queue_steps import WAIT_SOUNDS

__all__ = ["SOUNDS_PATH", "PromptBook", "Recording", "sound_url", "spoken_digits"]

SOUNDS_PATH = "/demo/sounds/"  # where the test phone fetches recordings from

SAMPLES_PER_MS = 8  # Asterisk counts 8 kHz samples (endpos)
_WORD_MS = 330  # about 180 words a minute, an IVR voice talent's pace
_LEAD_MS = 400  # the silence a recording starts and ends with


def _prompts(node: Any) -> Iterator[Prompt]:
    """Every Prompt inside a model, however deep (nodes, settings, confirmations)."""
    if isinstance(node, Prompt):
        yield node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _prompts(getattr(node, name))
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _prompts(value)
    elif isinstance(node, (tuple, list)):
        for value in node:
            yield from _prompts(value)


def sound_url(sound: str) -> str:
    """The test phone's URL of a sound's recording (`phone.py` serves it)."""
    return SOUNDS_PATH + quote(sound) + ".wav"


def spoken_digits(digits: str) -> str:
    """`SAY DIGITS 1234` as text: `1 2 3 4`."""
    return " ".join(digits)


@dataclass(frozen=True, slots=True)
class Recording:
    """A prompt's WAV file and its length in Asterisk's 8 kHz samples."""

    path: Path
    samples: int


def _recording(folder: Path, sound: str, language: str) -> Recording | None:
    """`LANG/NAME.wav`, else `NAME.wav`, under `folder` (Asterisk's order), if it is a
    WAV file; a name that climbs out of the folder is never looked up."""
    if ".." in Path(sound).parts:
        return None
    for base in (folder / language, folder):
        path = base / f"{sound}.wav"
        if not path.is_file():
            continue
        try:
            with wave.open(str(path)) as audio:
                seconds = audio.getnframes() / audio.getframerate()
        except (wave.Error, EOFError, OSError, ZeroDivisionError):
            continue
        return Recording(path, int(seconds * SAMPLES_PER_MS * 1000))
    return None


@dataclass(frozen=True, slots=True)
class PromptBook:
    """Sound name -> text, the recordings the phone can play, and each sound's length
    in samples at the demo's pace."""

    texts: Mapping[str, str]
    pace: float = 1.0
    recordings: Mapping[str, Recording] = field(default_factory=dict)

    @classmethod
    def from_flows(
        cls, flows: Iterable[Flow], *, pace: float = 1.0, sounds: Path | None = None
    ) -> PromptBook:
        if pace <= 0:
            raise ValueError("the prompt pace is a positive factor (1.0 is real speed)")
        texts: dict[str, str] = {}
        recordings: dict[str, Recording] = {}
        for flow in flows:
            for prompt in _prompts(flow):
                sound = prompt.sound
                if sound is None:
                    continue
                if prompt.text and sound not in texts:
                    texts[sound] = " ".join(prompt.text.split())
                if sounds is not None and sound not in recordings:
                    found = _recording(sounds, sound, flow.settings.language)
                    if found is not None:
                        recordings[sound] = found
        for said in WAIT_SOUNDS:  # the engine's own words: the estimated wait's units
            if said.text:
                texts.setdefault(said.name, said.text)
        return cls(texts, pace, recordings)

    def recording(self, sound: str) -> Recording | None:
        return self.recordings.get(sound)

    def text(self, sound: str) -> str:
        return self.texts.get(sound) or f"[{sound}]"

    def samples(self, sound: str) -> int:
        recording = self.recordings.get(sound)
        if recording is not None:
            return max(SAMPLES_PER_MS, int(recording.samples * self.pace))
        words = len(self.texts.get(sound, sound).split())
        ms = (_LEAD_MS + _WORD_MS * words) * self.pace
        return max(SAMPLES_PER_MS, int(ms * SAMPLES_PER_MS))

    def sound_lengths(self) -> tuple[tuple[str, int], ...]:
        """For `SimOptions.sounds`: every known sound with its length."""
        known = dict.fromkeys([*self.texts, *self.recordings])
        return tuple((sound, self.samples(sound)) for sound in known)
