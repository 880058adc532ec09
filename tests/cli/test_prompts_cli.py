"""`callpop prompts render`: the sample dialplan spoken into files Asterisk plays, which
`lint --sounds` then finds. Needs Debian's espeak-ng and sox (`make tts`)."""

from __future__ import annotations

import re
import shutil
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from ivr.flow import Flow, Prompt
from ivr.lint.context import walk
from ivr.loader import load_dialplan

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
GSM_FRAME = (160, 33)  # GSM 06.10: 160 samples in 33 bytes
MADE = re.compile(r"^(?P<base>.+)\.\{wav,gsm,ulaw\}  (?P<text>.+)$")


def run(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env or None)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    # `make tts` (run by `make pytest`) installs them: a test that cannot run must fail.
    assert shutil.which("espeak-ng") and shutil.which("sox"), "run `make tts`"
    out = tmp_path_factory.mktemp("sounds")
    return out, run("prompts", "render", str(SAMPLE), "-o", str(out))


def test_every_sample_prompt_with_a_text_is_made_once(rendered: tuple[Path, Result]) -> None:
    out, result = rendered
    assert result.exit_code == 0, result.output
    made = [MADE.match(line) for line in result.stdout.splitlines()]
    assert all(made), result.stdout
    sounds = {Path(m["base"]).relative_to(out / "en").as_posix() for m in made if m}
    expected = {
        p.sound
        for flow in load_dialplan(SAMPLE).flows.values()
        for p in _prompts(flow)
        if p.sound is not None and p.text
    }
    assert sounds == expected
    assert "acme-main-menu" in sounds
    assert result.stderr.endswith(f"{len(sounds)} sounds made in {out}, 0 prompts not made\n")


def test_the_files_are_8khz_mono_16_bit_wav_gsm_and_ulaw_of_one_length(
    rendered: tuple[Path, Result],
) -> None:
    out, result = rendered
    texts = {
        Path(f"{m['base']}.wav"): m["text"]
        for m in map(MADE.match, result.stdout.splitlines())
        if m
    }
    assert sorted(texts) == sorted((out / "en").rglob("*.wav"))
    for path, text in texts.items():
        with wave.open(str(path)) as audio:
            params = (audio.getnchannels(), audio.getframerate(), audio.getsampwidth())
            frames = audio.getnframes()
            pcm = audio.readframes(frames)
        peak = max(
            abs(int.from_bytes(pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(pcm), 2)
        )
        assert params == (1, 8000, 2), path
        # Plausible for the words at a phone voice's pace (espeak-ng at 160 a minute).
        words = len(text.split())
        assert 0.2 * words <= frames / 8000 <= 0.6 * words + 1.0, (path, frames, words)
        assert peak > 3000, path  # speech, not silence
        ulaw = path.with_suffix(".ulaw").stat().st_size
        gsm = path.with_suffix(".gsm").stat().st_size
        assert ulaw == frames  # one byte a sample
        samples, size = GSM_FRAME
        assert abs(gsm - frames / samples * size) <= size, path


def test_a_menu_lasts_longer_than_a_greeting(rendered: tuple[Path, Result]) -> None:
    out, _ = rendered

    def seconds(name: str) -> float:
        with wave.open(str(out / "en" / f"{name}.wav")) as audio:
            frames: int = audio.getnframes()
            rate: int = audio.getframerate()
            return frames / rate

    assert seconds("acme-main-menu") > 2 * seconds("hello")


def test_lint_finds_every_sound_once_they_are_made(
    rendered: tuple[Path, Result], tmp_path: Path
) -> None:
    out, _ = rendered
    before = run("lint", str(SAMPLE), "--sounds", str(tmp_path))
    assert "[missing-sound]" in before.stdout
    after = run("lint", str(SAMPLE), "--sounds", str(out))
    assert (after.exit_code, after.stdout) == (0, "")
    assert after.stderr.endswith("no problems\n")


def test_prompts_already_recorded_are_not_made(tmp_path: Path) -> None:
    flows = tmp_path / "dialplan" / "flows"
    flows.mkdir(parents=True)
    (flows / "main.yaml").write_text(
        "entry: hi\nnodes:\n  hi:\n    type: play\n    prompts:\n"
        "      - {sound: hello, text: Hello.}\n"
        "      - {sound: site/acme-welcome, text: Welcome to Acme.}\n"
        "    next: bye\n  bye:\n    type: hangup\n",
        encoding="utf-8",
    )
    recorded = tmp_path / "recordings"
    (recorded / "en").mkdir(parents=True)
    (recorded / "en" / "hello.gsm").write_bytes(b"\0" * 33)
    out = tmp_path / "out"

    result = run(
        "prompts", "render", str(tmp_path / "dialplan"), "-o", str(out), "--sounds", str(recorded)
    )

    assert result.exit_code == 0, result.output
    # The flow's own two prompts; the defaults it inherits (pm-invalid-option, ...) too.
    assert f"{out}/en/site/acme-welcome.{{wav,gsm,ulaw}}  Welcome to Acme." in result.stdout
    assert "/hello." not in result.stdout
    made = {p.relative_to(out).as_posix() for p in out.rglob("*.*")}
    assert {
        "en/site/acme-welcome.gsm",
        "en/site/acme-welcome.ulaw",
        "en/site/acme-welcome.wav",
    } <= made
    assert not any(name.startswith("en/hello.") for name in made)


def test_a_prompt_without_text_or_recording_is_named_and_exit_1(tmp_path: Path) -> None:
    flows = tmp_path / "dialplan" / "flows"
    flows.mkdir(parents=True)
    (flows / "main.yaml").write_text(
        "entry: hi\nnodes:\n  hi:\n    type: play\n    prompts:\n"
        "      - {sound: acme-jingle}\n    next: bye\n  bye:\n    type: hangup\n",
        encoding="utf-8",
    )
    result = run("prompts", "render", str(tmp_path / "dialplan"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{flows / 'main.yaml'}:6:9: sound 'acme-jingle' has no text: and no recording; "
        "write its text: to make it"
    )


def test_without_espeak_ng_one_line_says_how_to_install_it(tmp_path: Path) -> None:
    result = run("prompts", "render", str(SAMPLE), "-o", str(tmp_path), PATH=str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        "callpop prompts render: espeak-ng is not installed (Debian: apt-get install "
        "espeak-ng; `make tts` installs espeak-ng and sox)\n"
    )
    assert not any(tmp_path.iterdir())


def _prompts(flow: Flow) -> list[Prompt]:
    return [value for _, value in walk(flow) if isinstance(value, Prompt)]


def test_the_grown_six_by_nine_flow_is_rendered_and_then_lints_clean(tmp_path: Path) -> None:
    grown = ROOT / "tests" / "fixtures" / "grown"
    result = run("prompts", "render", str(grown), "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    made = len(result.stdout.splitlines())
    assert made == len(list((tmp_path / "en").rglob("*.wav"))) > 50
    linted = run("lint", str(grown), "--sounds", str(tmp_path))
    assert (linted.exit_code, linted.stdout) == (0, "")
