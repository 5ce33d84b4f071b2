# Support Copilot — `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install run migrate models redis test test-fast bench lint format fuzz clean

install: $(STAMP)

# torch first, from the local CPU wheel (any other torch pulls GBs of CUDA), then everything else in one
# resolver run against the pinned constraints (installed piecemeal, chromadb's deps break celery's pins).
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[all,run,dev]"
	touch $(STAMP)

migrate: install
	$(BIN)/alembic upgrade heads

models: install migrate
	$(BIN)/python -m classifier_worker.train --if-missing
	$(BIN)/python -m rag_worker.kb load rag_worker/kb
	$(BIN)/python -m forecast_service.train --if-missing

redis:
	@scripts/ensure_redis.sh

run: install migrate models redis
	@$(BIN)/python -m gateway.keys ensure-admin
	$(BIN)/honcho start -f Procfile

test: install redis
	$(BIN)/python -m classifier_worker.train --if-missing
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench: install migrate models redis
	@mkdir -p benchmarks/results
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/queue_reads.py
	$(BIN)/python benchmarks/classify.py
	$(BIN)/python benchmarks/classify_poison.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/follow_ups.py
	$(BIN)/python benchmarks/escalation.py
	$(BIN)/python benchmarks/alerts.py
	$(BIN)/python benchmarks/alert_burst.py
	$(BIN)/python benchmarks/due_alerts.py
	$(BIN)/python benchmarks/auto_close.py
	$(BIN)/python benchmarks/routing.py
	$(BIN)/python benchmarks/views.py
	$(BIN)/python benchmarks/auth.py
	$(BIN)/python benchmarks/agent_activity.py
	$(BIN)/python benchmarks/bulk_jobs.py
	$(BIN)/python benchmarks/list_export.py
	$(BIN)/python benchmarks/replies.py
	$(BIN)/python benchmarks/customer_pages.py
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/erasure.py
	$(BIN)/python benchmarks/redaction.py
	$(BIN)/python benchmarks/forecast.py
	$(BIN)/python benchmarks/forecast_origins.py

fuzz: install redis
	$(BIN)/python benchmarks/fuzz.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared gateway classifier_worker rag_worker forecast_service

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/ benchmarks/results/ .pytest_cache
