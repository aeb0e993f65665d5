# Fresh machine: Python >= 3.10, pip and make.  `make demo` runs the main job, `make test` the suite.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/h11dbg demo

lint: setup
	$(BIN)/ruff check h11dbg tests bench
	$(BIN)/mypy --strict h11dbg

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV)
