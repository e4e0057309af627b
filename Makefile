# The two commands a fresh machine needs: `make serve` (Python 3.11+ only; PostgreSQL is
# embedded when TANDEM_DATABASE_URL is unset) and `make test` (also Node.js 20+, for the npm
# clients the protocol tests drive: graphql-ws, Apollo Client, urql).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml changes, so `make test` stays fast after the first run.
STAMP := $(VENV)/.installed
# The third-party JavaScript clients the protocol tests drive (tests/js), from their lockfile.
NODE_STAMP := tests/js/node_modules/.installed
PYTEST_ARGS ?=

.PHONY: venv serve test bench schema

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Order-only on the interpreter: a venv that already exists must not force a reinstall.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

$(NODE_STAMP): tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $@

serve: venv
	$(BIN)/tandem serve

test: venv $(NODE_STAMP)
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
