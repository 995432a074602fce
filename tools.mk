# uv, pinned, bootstrapped into .tools/ from python3: a fresh machine needs
# only python3 (>= 3.11) and make. Included by the kit's Makefile and rendered
# into every tenant's Makefile, so kit and tenants run the same uv.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
# `make UV=/path/to/uv` (or $UV) uses an existing uv instead.
UV ?= $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
