# Bootstrap only: build the virtualenvs from the lock files, then hand over to invoke or pytest.
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
BIN := $(VENV)/bin
# Node.js tooling (Renovate, with the Node.js 24 it needs) from package-lock.json, into node_modules/.
NODE_TOOLS := node_modules/.installed
# An air-gapped provider mirror, where the machine has one: invoke installs hashicorp/aws from it.
TF_PLUGIN_MIRROR ?= $(firstword $(wildcard /opt/tf-plugins))
export TF_PLUGIN_MIRROR

.PHONY: check test tools bench lock clean

check: $(VENV)/.installed
	$(BIN)/invoke check

test: $(VENV)/.installed $(TOOLS_VENV)/.installed $(NODE_TOOLS)
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" $(BIN)/pytest

tools: $(TOOLS_VENV)/.installed $(NODE_TOOLS)

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_check.py
	$(BIN)/python bench/bench_promote.py

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
	rm -rf $(VENV) $(TOOLS_VENV) node_modules
