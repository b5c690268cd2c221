# Two commands for a newcomer: `make run` and `make test`. Needs Python 3.11+, make, Node.js/npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(VENV)/.installed node_modules/.package-lock.json

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The suite runs in one pytest-xdist worker per core (a worker per test file: its module-scoped fixtures are built
# once); PYTEST_XDIST="-n 0" runs it in this one process. PYTEST_ARGS: anything more for pytest.
PYTEST_XDIST ?= -n auto --dist loadfile
test: install
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# Generate a realistic data set into its own PostgreSQL database (ldn_bench; full size: 10,000 patients in 10
# clinics), time the pages side by side as ratios to the floor page, load-test gunicorn (50 users, then the
# saturation point), and write the "Results" of docs/performance.md.
# Options: BENCH_ARGS="--patients 200 --clinics 2" or "--skip-generate" (see docs/performance.md).
bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

# Ruff, djlint (templates), mypy (django-stubs), import-linter (the layering) and the migrations check;
# the tools' settings are in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache .ruff_cache
