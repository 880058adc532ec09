"""The AGI codec's fuzz corpus replayed, and a short atheris run (fuzz_codec.py)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .fuzz_codec import one_input

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus" / "codec"


def test_every_corpus_input_parses_or_raises_the_protocol_error() -> None:
    inputs = sorted(CORPUS.iterdir())
    assert len(inputs) > 100  # the seeds and what atheris found from them
    for path in inputs:
        try:
            one_input(path.read_bytes())
        except Exception as exc:
            raise AssertionError(f"corpus input {path.name}: {exc!r}") from exc


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_finds_no_input_breaking_the_codec_invariant(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)  # new inputs go to the copy, not the repository
    run = subprocess.run(
        [sys.executable, str(HERE / "fuzz_codec.py"), "-max_len=1024", "-runs=20000",
         "-seed=1", str(corpus)],
        capture_output=True, text=True, timeout=240, cwd=HERE.parents[1],
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done 20000 runs" in run.stderr
