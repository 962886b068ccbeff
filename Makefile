# sanchaek — two commands on a fresh machine: `make run` and `make test` (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages: Lucene + Nori for the embedded search backend, a JRE to run it,
# Chromium (and a Korean font for its screenshots) for the app's browser tests.
DEB_PACKAGES := liblucene8-java openjdk-17-jre-headless chromium fonts-nanum
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help setup deb data run test bench app lint clean mutation

help:
	@echo "make run    install everything, bring in data/external, run the pipeline (dvc repro)"
	@echo "make data   data/external/ from ../shared (the DVC imports), where this workspace lacks it"
	@echo "make test   install everything and run the test suite"
	@echo "make bench  CPU benchmarks into reports/bench/"
	@echo "make app    the Streamlit app on http://127.0.0.1:8501"
	@echo "make lint   ruff"
	@echo "make mutation  mutation testing of the core modules into reports/quality/mutation.json (slow; not in CI)"

setup: deb $(STAMP)

deb:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,bench,scale]'
	touch $(STAMP)

# The DVC imports of ../shared data (data/external/*.dvc): from the DVC cache where it has them, else
# imported again from their source (a fresh clone). `dvc update` keeps the .dvc file unless the source
# changed, in which case git shows the new hash and CI's check names it.
data: setup
	@for f in data/external/*.dvc; do out="$${f%.dvc}"; \
	  [ -e "$$out" ] || $(BIN)/dvc checkout -q "$$f" 2>/dev/null || $(BIN)/dvc update -q "$$f" || exit 1; \
	done

run: setup data
	$(BIN)/dvc repro

test: setup
	$(BIN)/pytest -q

bench: setup
	for b in bench/preprocess.py bench/search.py bench/train.py bench/generate.py; do \
	  [ -f $$b ] && $(BIN)/python $$b || exit 1; done

app: setup
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.headless true

# One module at a time, one worker, each run bounded (tools/mutation.py TARGETS); MODULES=name... for some.
mutation: setup
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[quality]'
	$(BIN)/python tools/mutation.py $(MODULES)

lint: setup
	$(BIN)/ruff check src tests bench app.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
