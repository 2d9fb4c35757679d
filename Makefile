# Two commands set everything up on a fresh machine with Python 3.11 and make:
#   make run    virtualenv, install, migrate, demo data, a demo admin (first run
#               only: its password is printed), serve on 127.0.0.1:$(PORT)
#               (5000 unless told: PORT=5001 make run)
#   make serve  the same database with gunicorn (gunicorn.conf.py; docs/deploy.md)
#   make test   the whole suite on SQLite, and again on PostgreSQL when
#               TOUCHLINE_TEST_POSTGRES_URL is set
PYTHON ?= python3.11
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app.py

.PHONY: run serve worker beat install install-dev migrate demo test lint format bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/flask db upgrade

demo: migrate
	$(BIN)/flask demo load --if-empty

run: demo
	$(BIN)/flask users ensure-demo-admin
	@echo "Touchline is at http://127.0.0.1:$(PORT)/"
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# Production-style serving: TOUCHLINE_WEB_WORKERS processes (TOUCHLINE_WEB_THREADS
# threads each) on TOUCHLINE_WEB_BIND, against DATABASE_URL, after migrating it.
serve: migrate
	$(BIN)/gunicorn -c gunicorn.conf.py

# A Celery worker for the background jobs (crm.jobs); needs REDIS_URL, and
# DATABASE_URL as the web processes have it. Without REDIS_URL there is no
# queue: `make run` does every job in-process.
worker: migrate
	@if [ -z "$$REDIS_URL" ]; then echo "make worker needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)"; exit 1; fi
	$(BIN)/celery -A worker worker --loglevel=INFO

# Celery beat: every minute, queues a sync job for each connection that is due
# (connectors/connections/tasks.py). One per installation. Without Redis, cron
# runs `flask sync --due` instead (README, "Connect your systems").
beat:
	@if [ -z "$$REDIS_URL" ]; then echo "make beat needs REDIS_URL; without Redis, run flask sync --due from cron"; exit 1; fi
	$(BIN)/celery -A worker beat --loglevel=INFO

test: install-dev
	$(BIN)/python -m pytest -q
	@if [ -n "$$TOUCHLINE_TEST_POSTGRES_URL" ]; then \
		echo "--- again on PostgreSQL ---"; \
		TOUCHLINE_TEST_ENGINE=postgresql $(BIN)/python -m pytest -q; \
	fi

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python bench/ingest.py

# The README's screenshots, taken by the browser test over the demo portfolio.
screenshots: install-dev
	TOUCHLINE_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/browser/test_demo_pages.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
