# One entry point for people and CI. Every target does its own set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := .vendor/.installed

.PHONY: book test setup vendor chromium bench studies clean

## book: build the whole book (every chapter executed) into _build/html
book: setup vendor
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: open _build/html/index.html in a browser."

## test: run the whole test suite (unit, reference, notebook build, browser)
test: setup vendor chromium
	$(BIN)/python -m pytest

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## vendor: MathJax and the Jupyter widget manager, served by the book itself (no CDN)
vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): vendor/package.json vendor/package-lock.json
	npm ci --prefix vendor --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf .vendor && mkdir -p .vendor/static/mathjax .vendor/static/widgets
	cp -r vendor/node_modules/mathjax/es5/. .vendor/static/mathjax/
	cp vendor/node_modules/requirejs/require.js .vendor/static/widgets/require.js
	cp vendor/node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js .vendor/static/widgets/embed-amd.js
	touch $(VENDOR_STAMP)

## chromium: Debian's chromium for the browser tests (never a Playwright download)
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## studies: the frozen Monte Carlo studies that chapters 7 and 9 read (data/studies/, with manifests).
## Long (hours on 2 cores) and resumable: an interrupted run continues where it stopped, and a larger
## DRAWS adds draws to the studies already there. SCHEDULER=tcp://host:8786 runs them on a Dask cluster.
DRAWS ?= 1000
JOBS ?= 2
studies: setup
	$(BIN)/python -m alliance.cli.make_studies --draws $(DRAWS) --jobs $(JOBS) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

## bench: time the models (not part of the tests)
bench: setup
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf _build .vendor vendor/node_modules
