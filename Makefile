# Peekr developer commands. The README's two commands are `make demo` and `make test`;
# CI (.ci/run) calls `make test` verbatim.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv demo test test-js test-fast check bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)  ## create .venv with peekr (editable) and every extra

demo: $(STAMP)  ## offline demo: real OpenAI SDK calls against the local fake provider, then show the traces
	@mkdir -p demo-output && rm -f demo-output/traces.db demo-output/traces.db-wal demo-output/traces.db-shm
	PEEKR_PATH=demo-output/traces.db $(BIN)/python examples/quickstart.py
	$(BIN)/peekr view demo-output/traces.db --io

test: $(STAMP) test-js  ## the whole suite (installs chromium and starts a throwaway PostgreSQL when missing)
	bash scripts/deps/chromium.sh
	bash scripts/deps/with-postgres.sh $(BIN)/python -m pytest -n 2 --durations=15 --cov $(PYTEST_ARGS)

test-js: $(STAMP)  ## the JavaScript SDK (js/): npm ci, build, node:test against the Python fake provider and server
	cd js && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test

test-fast: $(STAMP)  ## the suite without the browser and PostgreSQL set-up (those tests skip)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

check: $(STAMP)  ## lint, format check, type check
	$(BIN)/ruff check peekr tests benchmarks examples
	$(BIN)/ruff format --check peekr tests benchmarks examples
	$(BIN)/mypy peekr tests

bench: $(STAMP)  ## run every benchmark (prints figures; see benchmarks/README.md)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv and generated files
	rm -rf $(VENV) demo-output artifacts .pytest_cache
