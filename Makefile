# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint install browser promtool clean schemas docs

$(PY):
	@echo "creating the virtual environment $(VENV) ($(PYTHON))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	@echo "installing JustLink and its dependencies into $(VENV) (pip, a minute or two the first time)"
	$(PY) -m pip install -q -e '.[dev]'
	@echo "installed: $$($(VENV)/bin/justlink --version)"
	touch $(STAMP)

install: $(STAMP)

## Generate a county, run connectors, processors and views, then serve the web page.
demo: $(STAMP)
	$(VENV)/bin/justlink demo

## Install what the tests need (incl. headless Chromium and promtool), then lint (ruff, mypy, the
## import layers) and run the whole suite.
test: $(STAMP) browser promtool lint
	$(PY) -m pytest -q

## Headless Chromium + chromedriver for the browser tests, and a CJK font for readable
## screenshots (Debian packages).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
	    || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then \
	  echo "installing chromium, chromium-driver, fonts-wqy-microhei (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver fonts-wqy-microhei >/dev/null; \
	fi

## promtool (Debian package prometheus): the suite runs `promtool check metrics` on every metrics endpoint.
## Only the binary is used; the package's Prometheus service is not started.
promtool:
	@if ! command -v promtool >/dev/null 2>&1; then \
	  echo "installing prometheus (Debian package, for promtool)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    prometheus >/dev/null; \
	fi

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks.run_all

## The schema reference for integrators (docs/schemas.md), from the contracts and the built-in connectors.
docs: $(STAMP)
	$(VENV)/bin/justlink schemas docs --out docs/schemas.md

## ruff, the type check (mypy: strict on runtime/ and connectors/sdk/, see pyproject.toml) and the
## import-layer contract of pyproject.toml (dependencies point downward only).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## The standalone (fully-resolved) Avro schemas in schemas/bundled/, from schemas/avro/.
schemas: $(STAMP)
	$(VENV)/bin/justlink schemas bundle

clean:
	rm -rf .justlink build *.egg-info
