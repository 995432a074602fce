# Two commands matter: `make demo` and `make test`. Both install everything
# they need on a fresh machine that has python3 (>= 3.11) and make.
.DEFAULT_GOAL := help
include tools.mk
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint typecheck bench release clean help

help:
	@echo "make demo   create, seed and serve a demo tenant on http://127.0.0.1:8000 with its"
	@echo "            worker and vendor stand-ins (DEMO_PORT=8000 GATEWAY_PORT=8765; Ctrl-C stops)"
	@echo "make test   run the whole test suite (SQLite, and PostgreSQL when it answers)"
	@echo "make lint   ruff and mypy"
	@echo "make bench  benchmarks (figures and ratios in bench/results/)"
	@echo "make release  tag the kit's version v<version> (clean tree on main, lint and tests first)"

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

# The checks first (seconds), then lint and the whole suite, then the tag.
release:
	$(PYTHON) scripts/release.py check
	$(MAKE) lint test
	$(PYTHON) scripts/release.py tag

clean:
	rm -rf $(VENV) $(TOOLS) demo-tenant .pytest_cache .mypy_cache .ruff_cache
