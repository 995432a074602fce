# Two commands matter: `make demo` and `make test`. Both install everything
# they need on a fresh machine that has python3 (>= 3.11) and make.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: demo test install lint typecheck bench clean help

help:
	@echo "make demo   create, seed and serve a demo tenant on http://127.0.0.1:8000 with its"
	@echo "            worker and vendor stand-ins (DEMO_PORT=8000 GATEWAY_PORT=8765; Ctrl-C stops)"
	@echo "make test   run the whole test suite (SQLite, and PostgreSQL when it answers)"
	@echo "make lint   ruff and mypy"
	@echo "make bench  benchmarks (figures and ratios in bench/results/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(UV) sync --locked --all-packages
	@touch $@

install: $(VENV)/.synced

DEMO_PORT ?= 8000
GATEWAY_PORT ?= 8765

demo: install
	$(BIN)/lendkit-demo --port $(DEMO_PORT) --gateway-port $(GATEWAY_PORT)

test: install
	$(BIN)/pytest -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) demo-tenant .pytest_cache .mypy_cache .ruff_cache
