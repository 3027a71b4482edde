# crm-pay — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Parallel tests (pytest-xdist): one worker per core; the tests that share Redis or drive
# the browser run in one xdist group each (tests/conftest.py), PostgreSQL gets one
# database per worker. `make test XDIST=` runs them in one process.
XDIST  ?= -n auto --dist loadgroup
# The PostgreSQL run too: each xdist worker migrates and resets a database of its own
# (``test_gw0``, ``test_gw1``..., created from the configured one by tests/conftest.py).
# `make test PG_XDIST=` runs it in one process.
PG_XDIST ?= $(XDIST)
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-postgres lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# Front-end assets, pinned in package-lock.json, installed without running package scripts
# and copied (git-ignored) into agent_ui/static/vendor/: the Socket.IO client of the agent
# console's live panel, Chart.js of the dashboard, Braintree's browser SDK (braintree-web)
# of the pay page and axe-core of the browser tests' accessibility checks. Re-runs when
# the lock file changes. braintree-web's npm package has only its unminified browser builds
# (dist/browser/<name>.js; the .min.js files are on Braintree's CDN only): crm-pay sends
# them gzip-compressed, cached for good under links versioned by content.
VENDOR_JS := agent_ui/static/vendor/socket.io.min.js

$(VENDOR_JS): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "npm not found: install Node.js 20+ with npm (e.g. apt-get install nodejs npm)," \
		     "then run 'make install' again; the agent console's live panel needs it." >&2; \
		exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(@D)
	cp node_modules/socket.io-client/dist/socket.io.min.js $@
	cp node_modules/chart.js/dist/chart.umd.min.js $(@D)/chart.umd.min.js
	mkdir -p $(@D)/braintree-web
	cp node_modules/braintree-web/dist/browser/client.js \
	   node_modules/braintree-web/dist/browser/hosted-fields.js \
	   node_modules/braintree-web/dist/browser/data-collector.js \
	   node_modules/braintree-web/dist/browser/three-d-secure.js \
	   node_modules/braintree-web/dist/browser/google-payment.js \
	   node_modules/braintree-web/dist/browser/apple-pay.js \
	   node_modules/braintree-web/dist/browser/paypal-checkout.js \
	   node_modules/braintree-web/dist/browser/venmo.js \
	   node_modules/braintree-web/LICENSE $(@D)/braintree-web/
	cp node_modules/axe-core/axe.min.js $(@D)/axe.min.js

# Receipt PDF fonts (Noto, SIL Open Font License), from the npm packages pinned in
# package-lock.json, copied (git-ignored) with their licence into crm_pay/rendering/fonts/.
FONTS_DIR := crm_pay/rendering/fonts
RECEIPT_FONT := $(FONTS_DIR)/NotoSans-Regular.ttf

$(RECEIPT_FONT): $(VENDOR_JS)
	mkdir -p $(@D)
	cp node_modules/@embedpdf/fonts-latin/fonts/NotoSans-Regular.ttf \
	   node_modules/@embedpdf/fonts-latin/fonts/NotoSans-Bold.ttf \
	   node_modules/@embedpdf/fonts-sc/fonts/NotoSansHans-Regular.otf \
	   node_modules/@embedpdf/fonts-kr/fonts/NotoSansKR-Regular.otf \
	   node_modules/@embedpdf/fonts-arabic/fonts/NotoNaskhArabic-Regular.ttf $(@D)/
	cp node_modules/@embedpdf/fonts-latin/LICENSE $(@D)/OFL.txt
	touch $@

install: $(STAMP) $(VENDOR_JS) $(RECEIPT_FONT)  ## create .venv, install crm-pay with its test tools, the console's JS and the receipt fonts

demo: install  ## run the whole product locally (SQLite, Braintree sandbox, builtin CRM)
	$(BIN)/crm-pay demo

lint: install  ## ruff, mypy on the pure core, import direction
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint  ## lint, then the suite on SQLite, and on PostgreSQL when CRM_PAY_TEST_DATABASE_URL is set
	env -u CRM_PAY_TEST_DATABASE_URL $(BIN)/python -m pytest -q $(XDIST)
	@if [ -n "$$CRM_PAY_TEST_DATABASE_URL" ]; then \
		echo "== integration suite again, on PostgreSQL ($$CRM_PAY_TEST_DATABASE_URL) =="; \
		$(BIN)/python -m pytest -q $(PG_XDIST) tests/integration; \
	fi

test-postgres: install  ## the integration suite against the local PostgreSQL
	CRM_PAY_TEST_DATABASE_URL=$${CRM_PAY_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q $(PG_XDIST) tests/integration

bench: install  ## performance figures (printed, not asserted)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules agent_ui/static/vendor $(FONTS_DIR) instance .pytest_cache .ruff_cache .mypy_cache .hypothesis
