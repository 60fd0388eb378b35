# The two commands of the README's quick start, and the checks developers run.
# Both work on a fresh machine: they create .venv and install what they need.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all lint setup setup-test plink chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-test: $(BIN)/python plink chromium
	$(BIN)/pip install --quiet -e '.[test]'

# plink2 and plink1.9 are the reference implementations the tests compare against.
plink:
	@command -v plink2 >/dev/null && command -v plink1.9 >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq plink2 plink1.9)

# Debian's chromium renders the run report in tests/test_report.py (headless).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## Main job on the bundled data: QC + PCA + overlap + simulation summary.
demo: setup
	$(BIN)/genopt run workflows/demo.toml

## Default test suite (slow tests excluded; run them with `make test-all`).
test: setup-test
	$(BIN)/python -m pytest -n 2 -m "not slow"

test-all: setup-test
	$(BIN)/python -m pytest -n 2

lint:
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check genopt tests benchmarks
	$(BIN)/mypy
