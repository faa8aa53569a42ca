# The two commands of the README: `make demo` (the product, running) and `make test`.
# Both set up everything they need on a fresh Debian/Ubuntu machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test test-road test-full lint bench-quick clean

setup: $(STAMP)

$(STAMP): pyproject.toml fleet/web/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@if [ -f fleet/web/package.json ]; then npm ci --prefix fleet/web --no-audit --no-fund --loglevel=error; fi
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

demo: setup system-deps
	$(VENV)/bin/fleet demo $(ARGS)

test: setup system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# the whole road (issue 12): 200 WMS orders in-process and over tcp://, 120 over VDA 5050,
# and a kill -9 mid-shift; about 35 minutes (CI runs it after `make test`)
test-road: setup system-deps
	$(PY) -m pytest -q -m slow tests/e2e/test_road.py tests/e2e/test_resume.py

test-full: setup system-deps
	$(PY) -m pytest -q -m ''

bench-quick: setup
	@mkdir -p out/bench
	@for b in $$($(VENV)/bin/fleet bench --help | sed -n 's/^    \([a-z_]*\) .*/\1/p'); do \
	  $(VENV)/bin/fleet bench $$b --quick --out out/bench/$$b.json || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
