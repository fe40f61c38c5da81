# Every target creates .venv on demand and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: run test test-slow lint typecheck pytest browser demo bench bench-extract bench-ingest bench-scale bench-web check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "news-monitor needs Python 3.11+ (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/monitor run --config-dir . --db var/monitor.db

check: $(STAMP)
	$(BIN)/monitor check --config-dir .

test: lint typecheck browser pytest

# Headless Chromium for tests/web (Debian's packages): installed when missing and we are
# root; otherwise the browser tests skip with this message (and fail under CI=true).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "note: no /usr/bin/chromium or /usr/bin/chromedriver and not root: the browser tests"\
		" (tests/web) will skip; install them with: apt-get install -y chromium chromium-driver"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check monitor tests
	$(BIN)/ruff format --check monitor tests

typecheck: $(STAMP)
	$(BIN)/mypy monitor

# Two workers (the machine has 2 cores; most tests wait on servers and daemons); the slow
# tests (soak, scale-out) run once, in CI, by `make test-slow`.
pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 -m 'not slow'

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

demo: $(STAMP)
	$(BIN)/python tests/demo.py

bench: $(STAMP)
	$(BIN)/python tests/bench/matching.py --shared $(SHARED)

bench-extract: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python tests/bench/extraction.py --shared $(SHARED)

# The real daemon against ../shared/bench/ingest/feed_server.py: about 40 minutes for all
# scenarios; ARGS="--quick" for a smoke run, ARGS="--scenario 2000x60s" for one.
bench-ingest: $(STAMP)
	$(BIN)/python tests/bench/ingest.py --shared $(SHARED) $(ARGS)

# 1, 2 and 3 daemons on one throwaway PostgreSQL against the shared feed server: about 10
# minutes; ARGS="--quick" for a smoke run (about 2 minutes).
bench-scale: $(STAMP)
	$(BIN)/python tests/bench/scale.py --shared $(SHARED) $(ARGS)

# The web inbox over 10,000 alerts and 100,000 articles: inbox page and search times on
# SQLite and on a throwaway PostgreSQL, side by side (about 5 minutes); ARGS="--no-postgres"
# for SQLite only.
bench-web: $(STAMP)
	$(BIN)/python tests/bench/inbox.py $(ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
