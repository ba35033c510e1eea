# Quick start: `make demo` scores the sample report (needs a judge endpoint), `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/dreval: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $@

demo: $(BIN)/dreval
	$(BIN)/dreval corpus add samples/corpus
	$(BIN)/dreval score samples/report.md --task samples/task.json

test: $(BIN)/dreval
	$(BIN)/python -m pytest -q

bench: $(BIN)/dreval
	$(BIN)/python benchmarks/quality_cost.py
	$(BIN)/python benchmarks/factcheck_cost.py

clean:
	rm -rf $(VENV) dreval-out dist build .pytest_cache
