# devops-tasks: `make demo` and `make test` build what they need on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda's runtime is python3.12: build the venv with it when the machine has it, else with 3.11 (and say so)
# (a name on PATH counts only if it runs: a pyenv shim of a version that is not selected does not)
runs = $(shell $(1) -c 'import sys' >/dev/null 2>&1 && command -v $(1))
ifndef PYTHON
PYTHON := $(or $(call runs,python3.12),$(call runs,python3.11),python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST := $(PY) -m pytest
STAGE ?= dev
export MOTO_EC2_LOAD_DEFAULT_AMIS := false
export NODE_NO_WARNINGS := 1

.PHONY: help venv node chromium demo test lint format types unit functional contract integration package schema member-role validate bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; print("== .venv: Python " + v + (" (as the Lambda runtime)" if v == "3.12" else " (the Lambda runtime is 3.12: install python3.12 or set PYTHON=... to match it)"))'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "== .venv: upgrading pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "== .venv: installing requirements-dev.txt (boto3, Powertools, pyarrow, moto, pytest...; a few minutes the first time)"
	@$(PY) -m pip install --quiet -r requirements-dev.txt
	@echo "== .venv: installing devops-tasks itself (editable)"
	@$(PY) -m pip install --quiet --no-deps -e .
	@echo "== .venv: ready ($(VENV)/bin/devops-tasks)"
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "== node_modules: installing the pinned Serverless Framework (osls) with npm ci"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

venv: $(STAMP) ## Build the Python virtualenv
node: $(NODE_STAMP) ## Install the Serverless Framework (osls)
chromium: ## Debian's headless Chromium for the HTML report test (installed only when missing)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

demo: $(STAMP) ## Run every task against an embedded AWS (moto server) and write reports under out/
	$(VENV)/bin/devops-tasks demo --out out

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

types: $(STAMP) 
	$(VENV)/bin/mypy

unit: $(STAMP) ## Unit tests (pure code, property tests)
	$(PYTEST) -q -n 2 tests/unit

functional: $(STAMP) ## Handlers under in-process moto
	$(PYTEST) -q -n 2 tests/functional

contract: $(STAMP) $(NODE_STAMP) ## serverless.yml against the code, serverless package + cfn-lint
	$(PYTEST) -q tests/contract

integration: $(STAMP) $(NODE_STAMP) chromium ## Handlers against moto server over HTTP, serverless invoke local and deploy
	$(PYTEST) -q tests/integration

package: $(STAMP) $(NODE_STAMP) ## serverless package, then cfn-lint the generated template
	npx serverless package --stage $(STAGE) --region us-east-1
	$(VENV)/bin/cfn-lint -- .serverless/cloudformation-template-update-stack.json deploy/member-role.yml

test: lint types unit functional contract integration package ## Every check (what CI runs)

schema: $(STAMP) ## Write the JSON Schemas of the configuration file and the task inputs to config/schema/
	$(VENV)/bin/devops-tasks schema --write config/schema

member-role: $(STAMP) ## Write deploy/member-role.yml (the member role for a StackSet) from the tasks' permissions
	$(VENV)/bin/devops-tasks member-role --write deploy/member-role.yml

validate: $(STAMP) ## Check config/*.yml and the project's default policies with the handlers' models
	$(VENV)/bin/devops-tasks validate

bench: $(STAMP) ## Run the benchmarks under bench/
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## Remove build outputs (keeps .venv and node_modules)
	rm -rf .serverless out .pytest_cache .mypy_cache .ruff_cache
