# Fresh machine: Python >= 3.10, pip and make.  `make demo` runs the main job, `make test` the suite.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint bench bounds faults integrity fuzz clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/h11dbg demo

lint: setup
	$(BIN)/ruff check h11dbg tests bench fuzz
	$(BIN)/mypy --strict h11dbg

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/run.py

# The bounds table (docs/robustness.md): both engines at a 1 MB header, 100 000 headers, sizes near 2^64,
# 10 000 pipelined requests and 1 KiB-1 MiB fed one byte at a time; a few minutes.
bounds: setup
	$(BIN)/python bench/bounds.py

# The fault table (docs/robustness.md): resets, half-closes, silent peers, TLS mismatches, banners, slowloris
faults: setup
	$(BIN)/python bench/faults.py

# h11dbg record between real clients and a real upstream: 100, 400, 1000 concurrent connections, bytes
# compared at both ends and in the transcript, then SIGKILL/SIGTERM/SIGINT mid-stream (docs/robustness.md);
# plain TCP, then TLS on both sides of the recorder
integrity: setup
	$(BIN)/python bench/integrity.py
	$(BIN)/python bench/integrity.py --tls

# Each harness for FUZZ_SECONDS (default 600) of wall time, or FUZZ_CPU_SECONDS of CPU time when set (on a
# shared machine); new inputs go to a scratch corpus, findings and logs to FUZZ_ARTIFACTS.  docs/robustness.md
# has the figures.
FUZZ_SECONDS ?= 600
FUZZ_ARTIFACTS ?= /tmp/h11dbg-fuzz
fuzz: setup
	$(BIN)/python -m fuzz all --seconds $(FUZZ_SECONDS) --artifacts $(FUZZ_ARTIFACTS)

clean:
	rm -rf $(VENV)
