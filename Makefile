# `make repro` sets everything up and runs the pipeline; `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
# The lock has wheels for Python 3.11 to 3.13 (TensorFlow 2.21 publishes none for 3.14).
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
DATASET_DIR := /usr/share/datasets/fashion-mnist
# dvc.yaml runs `python -m pipeline.<stage>`: that python must be the venv's.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup dataset postgresql nginx openssh-server repro test test-fast gate push serve tracking-server \
	tracking-user ui-screenshots \
	bench bench-tflite lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.installed dataset ## create .venv with the pinned dependencies and make the dataset available

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 11) <= v[:2] <= (3, 13) else \
		f"error: Python {v.major}.{v.minor} is not supported (TensorFlow 2.21 has wheels for 3.11-3.13): run make PYTHON=python3.12")'
	@echo "== creating $(VENV) with the pinned dependencies (about 2 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

# $(call apt_install,PACKAGE,TEST THAT IT IS HERE,WHAT FAILS WITHOUT IT,WHAT TO SAY WITHOUT APT OR ROOT): install a
# Debian package with apt (as root, or through sudo when it needs no password) unless the test already passes.
define apt_install
	@if $(2); then \
		true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "== installing Debian package $(1)"; \
		(apt-get update -qq && apt-get install -y -qq $(1) >/dev/null) \
			|| echo "warning: apt could not install $(1); $(strip $(3))"; \
	elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then \
		echo "== installing Debian package $(1)"; \
		(sudo apt-get update -qq && sudo apt-get install -y -qq $(1) >/dev/null) \
			|| echo "warning: apt could not install $(1); $(strip $(3))"; \
	else \
		echo "$(strip $(4))"; \
	fi
endef

dataset: ## install Debian's dataset-fashion-mnist when apt is here and no local copy is (else fetch downloads)
	$(call apt_install,dataset-fashion-mnist,[ -n "$$FASHION_MNIST_DIR" ] || [ -f $(DATASET_DIR)/train-images-idx3-ubyte.gz ],\
		fetch will try the mirrors,== no local Fashion-MNIST copy: the fetch stage will download it from the mirrors)

# Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres): `pg_config` alone comes with libpq-dev too.
HAVE_POSTGRESQL = ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null

postgresql: ## install Debian's postgresql when its server is missing (make tracking-server and its tests run it)
	$(call apt_install,postgresql,$(HAVE_POSTGRESQL),make tracking-server and its tests will fail,\
		warning: no PostgreSQL server here (initdb): install it: apt-get install postgresql)

nginx: ## install Debian's nginx when missing (make tracking-server serves TLS with it beyond loopback; its tests too)
	$(call apt_install,nginx,[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null,\
		make tracking-server --host ... and its tests will fail,warning: no nginx here: install it: apt-get install nginx)

openssh-server: ## install Debian's openssh-server when sshd is missing (tests/test_remote.py runs its own sshd)
	$(call apt_install,openssh-server,[ -x /usr/sbin/sshd ],tests/test_remote.py will fail,\
		warning: no OpenSSH server here (/usr/sbin/sshd): install it: apt-get install openssh-server)

repro: setup ## run the whole pipeline (dvc repro) and print the variants' results
	dvc repro
	@cat reports/comparison.md

# The test files run in parallel, one per core (pytest-xdist; a file's tests stay together, in one process, so a
# module's servers and dvc repro are made once): most of an end-to-end test's time is one busy core (a stage's
# start-up, a server's). TEST_WORKERS=0 runs them in this process, one after another.
TEST_WORKERS ?= 2
PYTEST = pytest -n $(TEST_WORKERS) --dist loadfile

test: setup postgresql nginx openssh-server ## run the whole test suite, as CI does (includes a tiny end-to-end dvc repro)
	$(PYTEST)

test-fast: setup ## the tests without the slow ones (real commands, dvc repro, the network): for everyday work
	$(PYTEST) -m "not slow"

gate: setup ## check the committed metrics against the bounds under `gate:` in params.yaml
	python -m pipeline.gate

bench: setup ## time training against the tutorials' code and the whole pipeline, as this CPU and as AVX2-only (about 1 h)
	dvc repro preprocess
	python bench/train_speed.py
	python bench/pipeline_time.py

bench-tflite: setup ## every exported .tflite file: accuracy, size, latency, against Keras (after the pipeline)
	dvc repro
	python bench/tflite_speed.py

# The registered model and experiment compare uses (tracking in params.yaml, else named after the dataset).
REGISTERED_MODEL = $(shell $(BIN)/python -c 'from pipeline.core import config; print(config.load_params().registered_model)')
EXPERIMENT = $(shell $(BIN)/python -c 'from pipeline.core import config; print(config.load_params().experiment)')
SERVE_PORT ?= 5001

# The scoring server has no login of its own: it stays on loopback. A tracking server that refuses the
# login (MLFLOW_TRACKING_USERNAME/_PASSWORD, ~/.mlflow/credentials) or its certificate stops it in one line.
serve: setup ## serve the registry's champion on http://127.0.0.1:5001 (POST /invocations, see the README)
	@python -c 'from pipeline.core import cli; from pipeline.tracking import store; cli.run(store.check_reachable)'
	mlflow models serve -m "models:/$(REGISTERED_MODEL)@champion" --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

push: setup ## dvc push --run-cache, plus the run-cache's reports DVC leaves out (another machine restores, not retrains)
	python scripts/push_run_cache.py

TRACKING_SERVER_ARGS ?=
TRACKING_SERVER_DIR ?= .tracking-server

# On loopback by default; TRACKING_SERVER_ARGS="--host 10.0.0.5" (logins and TLS on) for a team.
tracking-server: $(VENV)/.installed postgresql nginx ## a shared mlflow server on PostgreSQL, data in .tracking-server/ (Ctrl-C stops it)
	python scripts/tracking_server.py start --dir $(TRACKING_SERVER_DIR) $(TRACKING_SERVER_ARGS)

tracking-user: $(VENV)/.installed ## add a member to the running tracking server: NAME=alice ROLE=edit|read (prints the password)
	python scripts/tracking_server.py user "$(NAME)" --role "$(ROLE)" --dir $(TRACKING_SERVER_DIR)

ui-screenshots: setup ## the MLflow UI as a user sees it, in headless Chromium, into screenshots/ (installs Debian's chromium)
	@if ! command -v chromium >/dev/null; then \
		echo "== installing Debian package chromium"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; \
	fi
	python scripts/ui_screenshots.py --store "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}" --out screenshots \
		--experiment "$(EXPERIMENT)" --model "$(REGISTERED_MODEL)"

lint: setup ## check the code with ruff
	ruff check pipeline tests bench scripts
	ruff format --check .

clean: ## remove the pipeline's outputs and the MLflow store (keeps .venv and the DVC cache)
	rm -rf data/raw data/prepared models reports/data reports/variants reports/comparison.* mlflow.db mlartifacts dvc_plots screenshots
