# Every target creates .venv itself: a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The first interpreter on PATH that is Python >= 3.10.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/.installed-dev: pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.10 found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed-dev
	$(BIN)/producer-pool demo

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy --strict src tests/unit/test_typing.py

unit: $(BIN)/.installed-dev
	$(BIN)/pytest

test: lint typecheck unit

bench: $(BIN)/.installed-dev
	$(BIN)/producer-pool bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
