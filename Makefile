# The two commands a fresh machine needs: `make serve` and `make test` (Python 3.11+ only;
# PostgreSQL is embedded when TANDEM_DATABASE_URL is unset).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml changes, so `make test` stays fast after the first run.
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv serve test bench schema

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order-only on the interpreter: a venv that already exists must not force a reinstall.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

serve: venv
	$(BIN)/tandem serve

test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy app tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/run.py
	$(BIN)/python bench/timeline.py
	$(BIN)/python bench/orders.py

# Through a temporary file, so that a failing export does not leave an empty schema behind.
schema: venv
	$(BIN)/tandem export-schema > schema/schema.graphql.tmp || { rm -f schema/schema.graphql.tmp; exit 1; }
	mv schema/schema.graphql.tmp schema/schema.graphql
