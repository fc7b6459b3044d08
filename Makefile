# The two commands of the README: `make run` executes the course, `make test` checks everything.
# Both set up .venv first (only when pyproject.toml changed since the last setup).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xmlab-setup
PYTEST_FLAGS ?=

.PHONY: setup venv run test lint unit lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,lab]"
	@touch $(STAMP)

# A .venv whose python cannot run pip is half made: `python3 -m venv` stopped after creating it
# (on Debian and Ubuntu when python3-venv is not installed). Remove it and make it again, and
# when making it fails, remove what was made and say what to install.
venv:
	@if [ -e $(BIN)/python ] && ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  echo "$(VENV) is half made (its python has no pip): removing it and making it again"; \
	  rm -rf $(VENV); \
	fi
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -m venv $(VENV) || { \
	    rm -rf $(VENV); \
	    echo "'$(PYTHON) -m venv $(VENV)' failed (see above), so the half-made $(VENV) was removed."; \
	    echo "On Debian or Ubuntu install the venv module first: sudo apt install python3-venv"; \
	    echo "(python3.X-venv for a Python 3.X other than the default), then run make again."; \
	    exit 1; }; \
	fi

run: setup
	@$(BIN)/xmlab run

test: setup lint
	XMLAB_CI_LIGHT=1 $(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=900 --durations=20 $(PYTEST_FLAGS) tests notebooks

lint: setup
	$(BIN)/ruff check xmlab tests notebooks benchmarks tools
	$(BIN)/ruff format --check xmlab tests notebooks benchmarks tools

lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf $(VENV) runs *.egg-info .pytest_cache
