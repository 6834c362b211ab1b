# One entry point for people and CI. Every target does its own set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# The first Python 3.11 or newer on PATH (override: make PYTHON=/path/to/python3.12 book).
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3 python; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  2>/dev/null && { echo $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_STAMP := .vendor/.installed

.PHONY: book test test-fast setup vendor chromium bench studies check-studies clean

## book: build the whole book (every chapter executed) into _build/html
book: setup vendor
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: open _build/html/index.html in a browser."

## test: run the whole test suite (unit, reference, notebook build, browser)
test: setup vendor chromium
	$(BIN)/python -m pytest

## test-fast: the contributor's shortcut (under 3 minutes): every test that needs neither the book
## build, a browser, npm nor R, without the long Monte Carlo studies (marked slow), in two processes
test-fast: setup
	$(BIN)/python tests/parallel.py -m "not slow and not book and not browser"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No Python 3.11 or newer found on PATH (tried python3.13, python3.12, python3.11, python3)."; \
	  echo "Install one (e.g. 'apt-get install python3.11 python3.11-venv' or from python.org),"; \
	  echo "or name it: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)"; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# the mixed-model engine's compiled loop (numba): compiled once here (about a minute) and cached
	$(BIN)/python -c "from alliance.mixed.kernel import compile_now; compile_now()"
	touch $(STAMP)

## vendor: MathJax (typesets the math at build time) and plotly.js (served by the book itself, no CDN);
## axe-core for the browser tests only
vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): vendor/package.json vendor/package-lock.json
	npm ci --prefix vendor --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf .vendor && mkdir -p .vendor/mathjax-node/output .vendor/mathjax-node/a11y .vendor/static/plotly
	# MathJax for Node: the book typesets its math as SVG when it is built (_ext/light_pages.py),
	# so no page loads MathJax; only the parts that TeX-to-SVG with hidden MathML needs
	cd vendor/node_modules/mathjax/es5 && cp -r node-main.js core.js startup.js loader.js input adaptors \
	  ../../../../.vendor/mathjax-node/ && cp -r output/svg.js output/svg ../../../../.vendor/mathjax-node/output/ \
	  && cp a11y/assistive-mml.js ../../../../.vendor/mathjax-node/a11y/
	# plotly.js, the partial bundle with 3-D surfaces (the interactive response surface)
	cp vendor/node_modules/plotly.js-gl3d-dist-min/plotly-gl3d.min.js .vendor/static/plotly/
	# axe-core, the accessibility checker the browser tests inject (outside static/: never in a page)
	mkdir -p .vendor/test && cp vendor/node_modules/axe-core/axe.min.js .vendor/test/
	touch $(VENDOR_STAMP)

## chromium: Debian's chromium for the browser tests (never a Playwright download)
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## studies: the frozen Monte Carlo studies that chapters 7 and 9 read (data/studies/, with manifests).
## Long (hours on 2 cores) and resumable: an interrupted run continues where it stopped, and a larger
## DRAWS adds draws to the studies already there. SCHEDULER=tcp://host:8786 runs them on a Dask cluster.
DRAWS ?=
JOBS ?= 2
studies: setup
	$(BIN)/python -m alliance.cli.make_studies $(if $(DRAWS),--draws $(DRAWS)) --jobs $(JOBS) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

## check-studies: regenerate every frozen study into a temporary folder and compare each draw with the
## stored row within the optimizer tolerance (tests/compare_studies.py; about 20 min on 2 cores).
## Run it before merging a change of the mixed-model engine: the tests recompute only a few draws.
check-studies: setup
	$(BIN)/python tests/compare_studies.py --jobs $(JOBS)

## bench: time the models (not part of the tests)
bench: setup
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf _build .vendor vendor/node_modules
