# servq task runner. `make` lists the tasks; `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install web demo test lint typecheck format docs bench bench-ingest clean

help: ## List the tasks
	@echo "servq tasks:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

VENDOR := src/servq/web/static/vendor/echarts.min.js

$(STAMP): pyproject.toml web/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(MAKE) --no-print-directory web
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install servq with its dev tools

# The dashboard's charting library, from the npm registry at build time (no CDN at run time).
# Without npm the dashboard still works, with tables instead of charts.
web: ## Install the dashboard's charting library (npm) into the Python package
	@if command -v npm >/dev/null; then \
	  npm ci --prefix web --no-audit --no-fund --loglevel=error && \
	  mkdir -p $(dir $(VENDOR)) && cp web/node_modules/echarts/dist/echarts.min.js $(VENDOR) && \
	  cp web/node_modules/echarts/LICENSE $(dir $(VENDOR))echarts.LICENSE; \
	else echo "npm not found: the dashboard will show tables without charts"; fi

demo: $(STAMP) ## Install, generate the demo data set and load it into ./servq-data
	$(BIN)/servq demo $(DEMO_ARGS)

test: $(STAMP) ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) ## mypy (strict) on src/
	$(BIN)/mypy

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

docs: $(STAMP) ## Regenerate docs/metrics.md from the metric catalogue
	$(BIN)/python -m servq.metrics.docgen docs/metrics.md

bench: bench-ingest ## Run every benchmark

bench-ingest: $(STAMP) ## 1M-row ticket CSV into the warehouse vs DuckDB's own read_csv
	$(BIN)/python bench/ingest.py

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
