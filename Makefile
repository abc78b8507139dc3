# Flashcard LMS — every command a developer or CI needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install run test lint format migrate seed worker beat watchdog browser bench loadtest clean

help:
	@echo "make run     - install, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test    - install, lint and run the whole test suite"
	@echo "make lint    - ruff lint and format check"
	@echo "make worker  - a Celery worker (needs REDIS_URL)"
	@echo "make beat    - Celery beat with the database scheduler (needs REDIS_URL)"
	@echo "make watchdog - the watchdog: checks database, Redis, workers and beat every 30 s from outside"
	@echo "make bench   - the benchmarks under bench/ (needs DATABASE_URL to PostgreSQL)"
	@echo "make loadtest URL=http://127.0.0.1:8000 - load benchmark against a running server"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo ""
	@echo "  Flashcard LMS on http://$(HOST):$(PORT)/"
	@echo "  Demo logins (password demo-pass-123): admin, teacher, student"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

# Debian's Chromium for the browser tests; Playwright never downloads a browser.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: browser tests will be skipped"; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install browser lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

worker: install
	$(VENV)/bin/celery -A lms worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A lms beat --loglevel=INFO

watchdog: install
	$(PY) manage.py watchdog

bench: install
	$(PY) -m bench.run

# Against a server you started (loopback only); see README "Load benchmark".
URL ?= http://$(HOST):$(PORT)
CLIENTS ?= 20
SECONDS ?= 10
loadtest: install
	$(PY) -m bench.load --url $(URL) --clients $(CLIENTS) --seconds $(SECONDS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
