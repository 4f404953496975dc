# CLM Lens: `make run` starts the app on demo data, `make test` runs the whole suite.
# Both create .venv and install the pinned requirements first; nothing else is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
DEMO_DB := data/demo-retail.duckdb

.PHONY: run test test-fast setup system-deps demo lint bench screenshots clean

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Browser tests need Debian's chromium and a CJK font for chart export; CI installs them.
system-deps:
	@if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		echo "system packages present"; \
	elif [ "$$CI" = "true" ] || [ "$$(id -u)" = "0" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else \
		echo "note: install Debian packages 'chromium fonts-noto-cjk' to run browser tests"; \
	fi

$(DEMO_DB): | $(STAMP)
	$(PY) -m clm_core demo --db $(DEMO_DB)

demo: $(STAMP)
	$(PY) -m clm_core demo --db $(DEMO_DB)

run: $(STAMP) $(DEMO_DB)
	@echo "CLM Lens: open http://localhost:$(PORT)"
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) system-deps lint
	$(PY) -m pytest -q -p no:cacheprovider tests

# The inner loop: lint and every test but the browser ones (no system packages needed).
test-fast: $(STAMP) lint
	$(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e

bench: $(STAMP) system-deps
	$(PY) -m bench.run_all

# Screenshots of every page in English and Chinese, taken by the browser tests, into docs/.
screenshots: $(STAMP) system-deps
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_shell_e2e.py -k every_page
	cp tests/e2e/screenshots/page-*.png docs/screenshots/

clean:
	rm -rf $(VENV) .pytest_cache
