"""What each prompt says, for the test phone: a sound name -> the `text:` the flows give it.

The IVR sends Asterisk sound names (`STREAM FILE acme-main-menu`), not text; the demo has
no audio, so the test phone shows the text the flow files wrote for the voice talent.
A name with no text anywhere (a core Asterisk prompt used bare) is shown by its name.

How long a prompt lasts is made up from its words at a speaking pace, so that the demo
feels like a call (a menu takes seconds, "Hello." does not); `pace` scales it (tests
use a fast pace, the demo the real one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ivr.flow import Flow, Prompt

__all__ = ["PromptBook", "spoken_digits"]

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


def spoken_digits(digits: str) -> str:
    """`SAY DIGITS 1234` as text: `1 2 3 4`."""
    return " ".join(digits)


@dataclass(frozen=True, slots=True)
class PromptBook:
    """Sound name -> text, and each sound's length in samples at the demo's pace."""

    texts: Mapping[str, str]
    pace: float = 1.0

    @classmethod
    def from_flows(cls, flows: Iterable[Flow], *, pace: float = 1.0) -> PromptBook:
        if pace <= 0:
            raise ValueError("the prompt pace is a positive factor (1.0 is real speed)")
        texts: dict[str, str] = {}
        for flow in flows:
            for prompt in _prompts(flow):
                if prompt.sound is not None and prompt.text and prompt.sound not in texts:
                    texts[prompt.sound] = " ".join(prompt.text.split())
        return cls(texts, pace)

    def text(self, sound: str) -> str:
        return self.texts.get(sound) or f"[{sound}]"

    def samples(self, sound: str) -> int:
        words = len(self.texts.get(sound, sound).split())
        ms = (_LEAD_MS + _WORD_MS * words) * self.pace
        return max(SAMPLES_PER_MS, int(ms * SAMPLES_PER_MS))

    def sound_lengths(self) -> tuple[tuple[str, int], ...]:
        """For `SimOptions.sounds`: every known sound with its length."""
        return tuple((sound, self.samples(sound)) for sound in self.texts)
