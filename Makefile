# Bootstrap only: build the virtualenvs from the lock files, then hand over to invoke or pytest.
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
# Airflow itself, for the DAG tests (tests/dags/): its dependency tree stays out of the tooling venv.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_IMAGE_DIR := images/airflow
# The image's Airflow version, read from the tag of its base image (FROM apache/airflow:<version>-python<x.y>).
AIRFLOW_VERSION = $(shell sed -nE 's/^FROM apache\/airflow:([0-9][^-@[:space:]]*)-python.*/\1/p' $(AIRFLOW_IMAGE_DIR)/Dockerfile)
BIN := $(VENV)/bin
# Node.js tooling (Renovate, with the Node.js 24 it needs) from package-lock.json, into node_modules/.
NODE_TOOLS := node_modules/.installed
# PostgreSQL's initdb and pg_ctl, for the test that runs Airflow's database role SQL against a real
# server (tests/apps/test_airflow_db_role.py): on PATH, or where Debian's postgresql package puts them.
POSTGRES_INITDB = $(or $(shell command -v initdb 2>/dev/null),$(wildcard /usr/lib/postgresql/*/bin/initdb))
# apt-get as root (CI runs as root on a fresh Debian machine), else through sudo.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
# An air-gapped provider mirror, where the machine has one: invoke installs hashicorp/aws from it.
TF_PLUGIN_MIRROR ?= $(firstword $(wildcard /opt/tf-plugins))
export TF_PLUGIN_MIRROR

# The suite runs as two pytest processes side by side: the moto-backed apply tests (marked `apply`) in one,
# where their jobs share a thread pool and mostly wait on terraform, and the rest split between
# PYTEST_WORKERS pytest-xdist workers.
PYTEST_WORKERS ?= 2
PYTEST := PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/pytest

.PHONY: check test test-apply test-rest setup tools postgres bench lock lock-airflow clean

check: $(VENV)/.installed
	$(BIN)/invoke check

# The environments build side by side: each is mostly waiting on downloads and unpacking. Then both halves of
# the suite run at once; each prints its report when it ends, and either failing fails the target.
test:
	$(MAKE) --jobs=4 --output-sync=target setup
	$(MAKE) --jobs=2 --output-sync=target --keep-going test-apply test-rest

test-apply:
	$(PYTEST) -m apply

test-rest:
	$(PYTEST) -n $(PYTEST_WORKERS) -m "not apply"

setup: $(VENV)/.installed $(TOOLS_VENV)/.installed $(NODE_TOOLS) $(AIRFLOW_VENV)/.installed postgres

# Installs Debian's postgresql where initdb is missing; does nothing where it is there.
postgres:
	@if [ -z "$(strip $(POSTGRES_INITDB))" ]; then \
		echo "initdb is missing: installing postgresql (apt-get)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; \
	fi

tools: $(TOOLS_VENV)/.installed $(NODE_TOOLS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_promote.py
	$(BIN)/python bench/bench_render.py

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

# checkov pins libraries that clash with ours, so it gets a virtualenv of its own.
$(TOOLS_VENV)/.installed: requirements-tools.lock
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet -r requirements-tools.lock
	touch $@

# The image's providers (requirements.txt) with the image's Airflow, pinned by requirements-test.lock.
# Airflow's official constraints file is not used here (it is downloaded at image build time only).
# The .gitignore inside keeps git, and so invoke, from listing the venv's files.
$(AIRFLOW_VENV)/.installed: $(AIRFLOW_IMAGE_DIR)/Dockerfile $(AIRFLOW_IMAGE_DIR)/requirements.txt $(AIRFLOW_IMAGE_DIR)/requirements-test.lock
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	echo '*' > $(AIRFLOW_VENV)/.gitignore
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -c $(AIRFLOW_IMAGE_DIR)/requirements-test.lock \
		-r $(AIRFLOW_IMAGE_DIR)/requirements.txt "apache-airflow==$(AIRFLOW_VERSION)"
	touch $@

# Refresh requirements-test.lock from requirements.txt and the Dockerfile's Airflow version (needs the package index).
# The lock leaves out Airflow and the packages requirements.txt pins, which those two files decide: a
# bump there (Renovate's) installs without a new lock, everything else stays as locked.
lock-airflow:
	rm -rf .lock-airflow-venv && $(PYTHON) -m venv .lock-airflow-venv && echo '*' > .lock-airflow-venv/.gitignore
	.lock-airflow-venv/bin/pip install --quiet -r $(AIRFLOW_IMAGE_DIR)/requirements.txt "apache-airflow==$(AIRFLOW_VERSION)"
	.lock-airflow-venv/bin/pip freeze > .lock-airflow-venv/freeze.txt
	{ echo '# The DAG tests'"'"' virtualenv (.venv-airflow), frozen by `make lock-airflow` from requirements.txt and'; \
	  echo '# apache-airflow==$(AIRFLOW_VERSION) (the Dockerfile'"'"'s AIRFLOW_VERSION), less Airflow and the packages'; \
	  echo '# requirements.txt pins. The image does not use it: it builds with Airflow'"'"'s constraints file.'; \
	  grep -viE "^($$(sed -nE 's/^([A-Za-z0-9._-]+)==.*/\1/p' $(AIRFLOW_IMAGE_DIR)/requirements.txt | paste -sd '|' -)|apache-airflow|apache-airflow-core|apache-airflow-task-sdk)==" .lock-airflow-venv/freeze.txt; \
	} > $(AIRFLOW_IMAGE_DIR)/requirements-test.lock
	rm -rf .lock-airflow-venv

$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Refresh the lock files from the ranges in pyproject.toml (needs the package index).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[test]'
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(AIRFLOW_VENV) node_modules
