# callpop: `make demo` to see it work, `make test` to check everything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint typecheck pytest chromium tts bench bench-quick clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,fast,bench]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/callpop demo

# Browser tests drive Debian's Chromium, TLS tests make certificates with openssl;
# install them when missing (machines run as root).
chromium:
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v openssl >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null)

# `callpop prompts render` speaks prompts with Debian's espeak-ng and converts them
# with sox (8 kHz WAV, GSM, ulaw); install them when missing, as Chromium above.
tts:
	@command -v espeak-ng >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null)
	@sox -h 2>/dev/null | grep -qw gsm || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sox libsox-fmt-base >/dev/null)

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.test
	$(BIN)/mypy ivr callpop agi_scripts crm_adapter screenpop tests bench

pytest: $(VENV)/.test chromium tts
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(VENV)/.test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench --full

bench-quick: $(VENV)/.test
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
