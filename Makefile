# The two commands of the README: `make run` executes the course, `make test` checks everything.
# Both set up .venv first (only when pyproject.toml changed since the last setup).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xmlab-setup
PYTEST_FLAGS ?=

.PHONY: setup run test lint unit lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,lab]"
	@touch $(STAMP)

run: setup
	$(BIN)/xmlab run

test: setup lint
	XMLAB_CI_LIGHT=1 $(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=900 --durations=20 $(PYTEST_FLAGS) tests notebooks

lint: setup
	$(BIN)/ruff check xmlab tests notebooks benchmarks tools
	$(BIN)/ruff format --check xmlab tests notebooks benchmarks tools

lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(VENV) runs *.egg-info .pytest_cache
