# The two commands a newcomer needs: `make run` and `make test`. Everything else supports those.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint audit install lock services browser promtool format clean chaos multihost

# Every dependency, the dev tools included, pinned with the hashes of its files (`make lock` writes it).
LOCK := requirements.lock

# From the lock only: pip refuses any file whose hash is not in it, and any dependency it does not pin.
$(STAMP): pyproject.toml $(LOCK)
	@bash deploy/bootstrap-python.sh
	@test -x $(PY) || python3.11 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q --require-hashes -r $(LOCK)
	@$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Re-resolves requirements.lock after pyproject.toml's dependencies changed (UPGRADE=1: newest allowed of all).
## Pins already in the lock are kept unless UPGRADE=1 or pyproject.toml no longer allows them.
lock:
	@bash deploy/bootstrap-python.sh
	@test -x $(PY) || python3.11 -m venv $(VENV)
	@$(PY) -m pip install -q 'pip-tools>=7.4,<8'
	@$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) --output-file $(LOCK) pyproject.toml

## Runs web + worker + beat on SQLite and a file-system broker (or on DATABASE_URL/REDIS_URL when set).
run: install
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_demo
	@$(PY) manage.py seed_history --days 7 --if-empty
	@$(PY) manage.py run_platform

## Runs the whole suite against PostgreSQL and Redis (started or installed when needed) plus embedded smoke tests.
test: install services browser promtool
	@$(PY) manage.py makemigrations --check --dry-run -v 0 || (echo "models and migrations disagree: run makemigrations" >&2; exit 1)
	@$(PY) -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; exit 1; fi; exit $$rc

services:
	@bash deploy/ensure-services.sh

## Prometheus's promtool, which checks deploy/'s alert rules in the tests (skips, saying why, if it cannot be installed).
promtool:
	@bash deploy/ensure-promtool.sh

## Debian's chromium for the back office's browser test (skips, saying why, if it cannot be installed).
browser:
	@bash deploy/ensure-browser.sh

## A seeded chaos run on loopback (own PostgreSQL cluster, Redis, sandbox and platform processes), then the auditor.
SEED ?= 1
MINUTES ?= 1
chaos: install
	@$(PY) bench/chaos.py --seed $(SEED) --minutes $(MINUTES)

## Two hosts, pgbouncer, a streaming replica: hosts killed, failover (RPO, RTO), point-in-time recovery.
multihost: install
	@bash deploy/ensure-pgbouncer.sh
	@$(PY) bench/multihost.py --seed $(SEED) --minutes $(MINUTES)

## Includes the security lint: ruff's flake8-bandit rules (S, in pyproject.toml), each exception justified where it is.
lint: install
	@$(VENV)/bin/ruff check .
	@! grep -rnE --include='*.py' --exclude-dir=.venv 'noqa: *S[0-9]+(, *S[0-9]+)*[[:space:]]*$$' . \
	  || { echo "a security exception (noqa: S...) above says no why: add ' - <reason>'" >&2; exit 1; }
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy .
	@$(VENV)/bin/lint-imports

## Known vulnerabilities in the locked dependencies (asks the PyPI advisory database: needs the network, so not in CI).
audit: install
	@$(PY) -m pip install -q 'pip-audit>=2.7,<3'
	@$(VENV)/bin/pip-audit --requirement $(LOCK) --require-hashes --disable-pip --progress-spinner off

format: install
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
