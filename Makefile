# One venv per checkout; every target creates it on demand.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DEMO_DUMP ?= fixtures/drupal7-broken.sql.gz
DEMO_OUT ?= demo-output

.PHONY: install demo test lint format typecheck docs bench bench-audit clean

$(BIN)/drupal-migrate: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/drupal-migrate

## demo: the whole job on the bundled broken site, from its dump file (no server needed), as an
## admin does it: write a site profile with init, then run the pipeline (audit, plan, repair a
## copy, re-audit, export the repaired site, redirects, reconciliation, summary page)
demo: install
	rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	cd $(DEMO_OUT) && $(abspath $(BIN))/drupal-migrate init --dump $(abspath $(DEMO_DUMP)) --site demo
	cd $(DEMO_OUT) && $(abspath $(BIN))/drupal-migrate run --yes

## test: the whole suite against the real MariaDB on 127.0.0.1:3306 (TEST_MYSQL_URL to change)
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check migrate tests bench tools
	$(BIN)/ruff format --check migrate tests bench tools

format: install
	$(BIN)/ruff format migrate tests bench tools
	$(BIN)/ruff check --fix migrate tests bench tools

## docs: regenerate README's command reference and exit-code table from --help and migrate/errors.py
docs: install
	$(PY) tools/reference.py

typecheck: install
	$(BIN)/mypy

## bench-audit: audit wall time and peak memory on synthetic 10k / 100k node sites (MariaDB)
bench-audit: install
	$(PY) bench/bench_audit.py --sizes 10000 100000

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
