# One venv per checkout; every target creates it on demand.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DEMO_DUMP ?= fixtures/drupal7-broken.sql.gz
DEMO_OUT ?= demo-output

.PHONY: install demo test lint format typecheck bench bench-audit clean

$(BIN)/drupal-migrate: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/drupal-migrate

## demo: the whole job on the bundled broken site, from its dump file (no server needed):
## inspect, audit (HTML report), plan the repair, apply it to a copy (+ SQL patch), audit the
## repaired dump, export to JSONL
demo: install
	$(BIN)/drupal-migrate inspect --dump $(DEMO_DUMP)
	$(BIN)/drupal-migrate audit --dump $(DEMO_DUMP) --format html --output $(DEMO_OUT)/audit.html --fail-on never
	$(BIN)/drupal-migrate repair plan --dump $(DEMO_DUMP) --mapping mappings/drupal7-vn.yml -o $(DEMO_OUT)/plan.json
	rm -rf $(DEMO_OUT)/repaired
	$(BIN)/drupal-migrate repair apply $(DEMO_OUT)/plan.json --dump $(DEMO_DUMP) --out $(DEMO_OUT)/repaired --yes
	$(BIN)/drupal-migrate audit --dump $(DEMO_OUT)/repaired/repaired.sql.gz --check 'taxonomy.*' --check 'links.*'
	$(BIN)/drupal-migrate export --dump $(DEMO_DUMP) --to jsonl --out $(DEMO_OUT)/jsonl
	@echo "Audit report:  $(abspath $(DEMO_OUT))/audit.html"
	@echo "Repair plan:   $(abspath $(DEMO_OUT))/plan.json (SQL patch: $(abspath $(DEMO_OUT))/repaired/repair.sql)"
	@echo "JSONL export:  $(abspath $(DEMO_OUT))/jsonl"

## test: the whole suite against the real MariaDB on 127.0.0.1:3306 (TEST_MYSQL_URL to change)
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check migrate tests bench
	$(BIN)/ruff format --check migrate tests bench

format: install
	$(BIN)/ruff format migrate tests bench
	$(BIN)/ruff check --fix migrate tests bench

typecheck: install
	$(BIN)/mypy

## bench-audit: audit wall time and peak memory on synthetic 10k / 100k node sites (MariaDB)
bench-audit: install
	$(PY) bench/bench_audit.py --sizes 10000 100000

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
