# EV fleet battery health — one virtual environment (.venv), created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint venv bench artifacts constraints clean

# Install (first time) and run the whole system locally.
run: $(STAMP)
	$(BIN)/evpm up

# Install (first time) and run the linter and the test suite.
test: $(STAMP)
	$(BIN)/ruff check evpm tests bench scripts
	$(BIN)/pytest

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check evpm tests bench scripts

# Speed figures for docs/BENCHMARKS.md (full-size runs; not part of the tests).
bench: $(STAMP)
	$(BIN)/python bench/bench_twin.py

# Rebuild the shipped data artifacts (data/simulated_trip_data.csv, test_cases/).
artifacts: $(STAMP)
	$(BIN)/evpm twin trip --vehicle V001 --profile renault-zoe-ze50 --cycle udds --out data --file-name simulated_trip_data.csv
	$(BIN)/evpm twin cases --out test_cases

# Re-pin every dependency from a clean virtual environment.
constraints:
	rm -rf /tmp/evpm-constraints-venv
	$(PYTHON) -m venv /tmp/evpm-constraints-venv
	/tmp/evpm-constraints-venv/bin/pip install --quiet --upgrade pip
	/tmp/evpm-constraints-venv/bin/pip install --quiet '.[dev]'
	{ head -2 constraints.txt; /tmp/evpm-constraints-venv/bin/pip freeze | grep -v '^evpm'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
