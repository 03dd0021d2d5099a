# The two commands a newcomer needs:
#   make demo        set up and run the demo (simulated engines on 127.0.0.1, SQLite)
#   make test        set up and run everything CI runs: lint, type checks, the whole suite
# and, while working:
#   make test-fast   the suite without the end-to-end and browser tests (under a minute)
# Each creates .venv and installs the package with what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/absence-monitor demo

# The static checks first: they take seconds, the suite minutes.
test: lint typecheck
	$(BIN)/python -m pytest -q

# Leaves out the end-to-end tests (real servers on 127.0.0.1, the daemon and the CLI as
# processes, the demo), the Chromium ones and the fuzzing; see the markers in pyproject.toml.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not browser and not fuzz"

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor

# monitor/ strictly (pyproject's [tool.mypy]); tests/ with the looser tests.* override.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy tests

bench: $(STAMP)
	$(BIN)/python -m bench.round --series 1000

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
