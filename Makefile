# Every target creates its venv itself: a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# The first interpreter on PATH that is Python >= 3.10 (or PYTHON=... to choose one).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; done)
PYTEST := $(BIN)/pytest -p no:cacheprovider
RUNS ?= 30
HOGS ?= 0

.PHONY: demo test lint typecheck unit integration stress flaky bench bench-quick bench-compare bench-paired outages docs docs-check clean

$(BIN)/.installed-%: pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.10 found on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

demo: $(BIN)/.installed-cli
	$(BIN)/producer-pool demo

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy --strict src tests/unit/test_typing.py

# CI's second and third Pythons leave out what runs once (.ci/run): UNIT_MARKS and MARKS
# then exclude `once` (the site, the release, the benchmarks' smoke run), and MARKS also the
# framework runs (Celery, gunicorn, uvicorn, Django, fork storms: minutes) and the docs'
# snippets (a minute).
UNIT_MARKS ?= not integration
MARKS ?= integration

unit: $(BIN)/.installed-dev  ## seconds: the core, the container, the docs site (--strict), the release
	$(PYTEST) -m "$(UNIT_MARKS)"

integration: $(BIN)/.installed-dev  ## against the embedded broker
	$(PYTEST) -m "$(MARKS)"

test: lint typecheck unit integration

stress: $(BIN)/.installed-dev  ## the state machine with a large budget, and the stress tests
	PRODUCER_POOL_STRESS=1 $(PYTEST) tests/unit/test_pool_state_machine.py tests/unit/test_stress_and_fork.py

flaky: $(BIN)/.installed-dev  ## RUNS full runs in random order (seeds printed), HOGS busy loops beside; stops at the first failure
	.ci/flaky $(BIN) $(RUNS) $(HOGS)

bench: $(BIN)/.installed-dev  ## every benchmark in rounds: docs/benchmarks.*, the README's figures
	$(BIN)/python -m benchmarks.run

bench-quick: $(BIN)/.installed-dev  ## the core ratios in under 2 minutes, into build/bench-quick
	$(BIN)/python -m benchmarks.run --quick

bench-compare: $(BIN)/.installed-dev  ## REV=<commit>: our micro benchmarks there and here, pyperf compare_to
	@test -n "$(REV)" || { echo "make bench-compare: say which commit, e.g. REV=main" >&2; exit 1; }
	$(BIN)/python -m benchmarks.compare $(REV)

bench-paired: $(BIN)/.installed-dev  ## REV=<commit>: an uncontended lease's cost there and here, in one process
	@test -n "$(REV)" || { echo "make bench-paired: say which commit, e.g. REV=main" >&2; exit 1; }
	$(BIN)/python -m benchmarks.paired $(REV)

outages: $(BIN)/.installed-dev  ## the zero-loss figures: close, retirement and fences in outages
	$(BIN)/python -m benchmarks.outages

docs: $(BIN)/.installed-docs  ## serve the site on 127.0.0.1:8000, rebuilt as pages change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

docs-check: $(BIN)/.installed-docs  ## render pages in headless Chromium (apt-get install chromium)
	$(BIN)/python -m tests.docs.render_check

clean:
	rm -rf .venv .venv-* .mypy_cache .ruff_cache .pytest_cache site .docs-check
