# The two first commands of the README: `make demo` and `make test`.
# Each creates .venv/ when missing and installs what it needs; nothing is installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench sysdeps-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/hashwarden demo --out demo-output

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# Benchmarks compare against hashdeep (Debian package) and python-threatexchange (PyPI).
sysdeps-bench:
	@command -v hashdeep >/dev/null 2>&1 || { \
		echo "installing hashdeep (Debian package)"; \
		(apt-get update -qq && apt-get install -y -qq hashdeep) >/dev/null; }

bench: $(VENV)/.installed-bench sysdeps-bench
	$(BIN)/python bench/pdq_baseline.py
	$(BIN)/python bench/pdq_engine.py
	$(BIN)/python bench/scan_crypto.py

clean:
	rm -rf $(VENV) demo-output
