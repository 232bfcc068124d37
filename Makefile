# The portal's commands. `make run` and `make test` are the two a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
export FLASK_APP := wsgi

.PHONY: run test test-fast lint format worker rq-worker cron migrate seed-demo seed-scale bench clean screenshots

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## Run the portal with demo data on the embedded default (SQLite, no services needed).
run: $(VENV)/.installed
	$(FLASK) db upgrade
	$(FLASK) seed demo
	$(FLASK) run --host 127.0.0.1 --port 5000

## The whole test suite against the real PostgreSQL and Redis of this machine.
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

## Refresh the README's screenshots (docs/screenshots/) by running the browser journeys.
screenshots: $(VENV)/.installed-dev
	$(PY) -m pytest tests/e2e -q --readme-screenshots

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Background processes (need REDIS_URL or REDIS_SENTINELS): `make worker` runs an RQ worker and
## the cron scheduler; both reach Redis as the app does (jobs/rq_settings.py).
worker: $(VENV)/.installed
	$(MAKE) -j2 rq-worker cron

rq-worker: $(VENV)/.installed
	$(VENV)/bin/rq worker --with-scheduler --worker-class jobs.app.AppWorker \
		-c jobs.rq_settings $${RQ_QUEUE:-default}

## The periodic jobs (jobs/cron.py); RQ 3 reads cron strings in local time, so TZ=UTC.
cron: $(VENV)/.installed
	TZ=UTC $(VENV)/bin/rq cron jobs/cron.py -c jobs.rq_settings

migrate: $(VENV)/.installed
	$(FLASK) db upgrade

seed-demo: $(VENV)/.installed
	$(FLASK) seed demo

## Full-scale data on PostgreSQL (DATABASE_URL); FRACTION=0.01 for a small copy.
seed-scale: $(VENV)/.installed
	$(FLASK) seed scale --yes --fraction $${FRACTION:-1}

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
