# smsgate: every target sets up what it needs, so a fresh clone only needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make run` serves where the settings say (SMSGATE_HOST and SMSGATE_PORT, from the environment
# or .env; 127.0.0.1:8000 by default); HOST and PORT given on make's command line win.
SERVE_FLAGS := $(if $(filter command line,$(origin HOST)),--host $(HOST)) \
               $(if $(filter command line,$(origin PORT)),--port $(PORT))

.DEFAULT_GOAL := help
.PHONY: help install install-dev run test lint typecheck check bench lock emulator clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# The stamp files make repeated runs instant and re-install when a lock file changes.
$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("smsgate needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.main-installed: requirements/main.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/main.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@ $(VENV)/.main-installed

install: $(VENV)/.main-installed  ## create .venv with the locked runtime dependencies

install-dev: $(VENV)/.dev-installed  ## create .venv with the locked runtime and development dependencies

run: install  ## set up, then serve http://127.0.0.1:8000, or where SMSGATE_HOST/SMSGATE_PORT say (sandbox provider unless Plivo is configured)
	$(BIN)/smsgate serve $(strip $(SERVE_FLAGS))

emulator: install  ## run the Plivo emulator on port 8099
	$(BIN)/smsgate emulator --port 8099

test: install-dev  ## set up, then run every test
	$(BIN)/pytest

lint: install-dev  ## ruff, mypy --strict and the import contracts (the layers)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test  ## what CI runs

bench: install-dev  ## load-test the send routes and queued sending against the emulator; writes docs/benchmarks.md
	$(BIN)/python scripts/bench.py --write docs/benchmarks.md
	$(BIN)/python scripts/bench_queue.py --write docs/benchmarks.md

lock:  ## re-resolve dependencies (needs uv) and refresh the hashed requirement files
	uv lock
	uv export --frozen --no-dev --no-emit-project --format requirements-txt -o requirements/main.txt
	uv export --frozen --no-emit-project --format requirements-txt -o requirements/dev.txt

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
