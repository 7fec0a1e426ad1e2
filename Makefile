# The two commands: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit e2e lint bench bench-encode chaos soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)  ## MongoDB, Redis, Ray + Serve (HAProxy) on http://127.0.0.1:8000; Ctrl-C stops all
	$(PY) -m stack

test: $(STAMP)  ## the whole suite: unit tests, then end-to-end on the real stack
	$(PY) -m pytest tests

unit: $(STAMP)
	$(PY) -m pytest tests/unit

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy api actors deployments media

clean:
	rm -rf $(VENV) var

bench: $(STAMP)  ## the benchmark beside the hello-world ceiling → docs/benchmarks.md, latency.png, encode-benchmark.md, capacity.md
	$(PY) -m loadtest.bench
	$(PY) -m loadtest.encode_bench
	$(PY) -m loadtest.capacity

bench-encode: $(STAMP)  ## pipeline vs plain ffmpeg encode speed → docs/encode-benchmark.md, encode-timeline.png
	$(PY) -m loadtest.encode_bench
	$(PY) -m loadtest.capacity

chaos: $(STAMP)  ## kill -9 a replica, a shard, Redis, MongoDB, then a whole second node → docs/chaos.md, multinode.md
	$(PY) -m loadtest.chaos
	$(PY) -m loadtest.multinode

soak: $(STAMP)  ## viewer suite at half of capacity for MINUTES (30), RSS + journals → docs/soak.*
	$(PY) -m loadtest.soak --minutes $(or $(MINUTES),30)
