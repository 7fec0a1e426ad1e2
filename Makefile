# The two commands: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit e2e lint bench ratios profile bench-encode chaos resize autoscale soak clean web fuzz deploy-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP) web  ## MongoDB, Redis, Ray + Serve (HAProxy) on http://127.0.0.1:8000; Ctrl-C stops all
	$(PY) -m stack

test: $(STAMP) web  ## the whole suite: unit tests, then end-to-end on the real stack
	$(PY) -m pytest tests

unit: $(STAMP)
	$(PY) -m pytest tests/unit

e2e: $(STAMP) web
	$(PY) -m pytest tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy core api actors deployments media

# The web player (/web/) and the API reference page (/docs): `npm ci` from web/package-lock.json
# (skipped while node_modules matches the lock), then a plain copy into web/dist/. Without npm,
# or when the install fails, it says so and goes on: the API does not need the player (the
# browser test then skips, loudly, or fails under REQUIRE_BROWSER_TEST=1).
web:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "web: npm not found: the web player (/web/, /docs) is NOT built; the API works without it."; \
		echo "web: install Node.js 18+ with npm, then run 'make web'."; \
	elif [ web/node_modules/.package-lock.json -nt web/package-lock.json ] || (cd web && npm ci --no-audit --no-fund --loglevel=error); then \
		node web/build.mjs || echo "web: the build failed: the web player is NOT served"; \
	else \
		echo "web: 'npm ci' failed (is the npm registry reachable?): the web player is NOT built"; \
	fi

clean:
	rm -rf $(VENV) var web/node_modules web/dist

bench: $(STAMP)  ## the benchmark beside the hello-world ceiling → docs/benchmarks.md, latency.png, openloop.md/.png, profile.md, shedding.md, encode-benchmark.md, capacity.md
	$(PY) -m loadtest.shedding_bench
	$(PY) -m loadtest.openloop
	$(PY) -m loadtest.profile_hot_path
	$(PY) -m loadtest.encode_bench
	$(PY) -m loadtest.bench
	$(PY) -m loadtest.capacity

ratios: $(STAMP)  ## quick A/B of a hot-path change: heartbeat and restart as shares of hello (closed loop, 3 passes); prints, writes nothing
	$(PY) -m loadtest.bench --ratios-only

profile: $(STAMP)  ## py-spy under load: where hello's, a heartbeat's and a session start's Python time goes → docs/profile.md
	$(PY) -m loadtest.profile_hot_path

bench-encode: $(STAMP)  ## pipeline vs plain ffmpeg encode speed → docs/encode-benchmark.md, encode-timeline.png
	$(PY) -m loadtest.encode_bench
	$(PY) -m loadtest.capacity

chaos: $(STAMP)  ## kill -9 a replica, a shard, Redis, MongoDB, then a whole second node → docs/chaos.md, multinode.md
	$(PY) -m loadtest.chaos
	$(PY) -m loadtest.multinode

fuzz: $(STAMP)  ## schemathesis, ~10,000 cases over every operation of /v1/openapi.json → docs/fuzz.md
	$(PY) -m loadtest.fuzz --examples $(or $(EXAMPLES),120)

resize: $(STAMP)  ## shard_count 2 -> 3 -> 2 by `serve deploy` while viewers play → docs/resize.md
	$(PY) -m loadtest.resize

autoscale: $(STAMP)  ## Ingress under autoscaling_config through a Locust ramp → docs/autoscaling.md, .png
	$(PY) -m loadtest.autoscale

soak: $(STAMP)  ## viewer suite at half of capacity for MINUTES (30), RSS + journals → docs/soak.*
	$(PY) -m loadtest.soak --minutes $(or $(MINUTES),30)

deploy-check: $(STAMP)  ## KubeRay/Prometheus/Grafana artifacts: CRD schema, Serve model, promtool, metric names
	$(PY) -m pytest tests/unit/test_deploy_artifacts.py -q
