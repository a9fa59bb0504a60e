# TypeScript clients (clients/ts/) and the dashboard's browser test (relayer/src/dashboard/).
# npm packages install into $(FAIRSHARE_CACHE)/npm/web from clients/ts/package-lock.json, linked
# as clients/ts/node_modules; Chromium comes from Debian (`apt-get install chromium`).

WEB_NPM_DIR := $(NPM_DIR)/web
WEB_STAMP := $(WEB_NPM_DIR)/.installed-$(shell cat clients/ts/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
TSC := clients/ts/node_modules/.bin/tsc
DEBUG_FAIRSHARE := $(CARGO_TARGET_DIR)/debug/fairshare

$(WEB_STAMP): clients/ts/package.json clients/ts/package-lock.json
	@mkdir -p $(WEB_NPM_DIR)
	cp clients/ts/package.json clients/ts/package-lock.json $(WEB_NPM_DIR)/
	cd $(WEB_NPM_DIR) && npm ci --no-audit --no-fund --cache $(NPM_DIR)/_cacache
	@touch $@

.PHONY: web-tools
web-tools: $(WEB_STAMP) ## npm packages of clients/ts (ts-codegen, tsc, cosmjs, playwright-core) and Debian's chromium
	@ln -sfn $(abspath $(WEB_NPM_DIR))/node_modules clients/ts/node_modules
	@command -v $(CHROMIUM) >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

tools: web-tools

.PHONY: clients
clients: web-tools ## regenerate the TypeScript clients from schema/ and compile them with tsc --strict
	cd clients/ts && node scripts/codegen.mjs src/contracts && node_modules/.bin/tsc -p tsconfig.json

# Cheap staleness check for `make test`: regenerate into a temporary folder and compare, then
# type-check the package (strict) without writing it.
.PHONY: clients-check
clients-check: web-tools ## the committed TypeScript clients match schema/ and compile with tsc --strict
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  (cd clients/ts && node scripts/codegen.mjs $$tmp/contracts >/dev/null) && \
	  diff -r $$tmp/contracts clients/ts/src/contracts >/dev/null || \
	  { echo "clients/ts/src/contracts is stale: run \`make clients\` and commit it"; exit 1; }
	cd clients/ts && node_modules/.bin/tsc -p tsconfig.json --noEmit
	@echo "clients: current, tsc --strict clean"

# The dashboard in Chromium against the chain `make e2e` leaves (stopped, not wiped): restart the
# node, run the browser test, stop it. Screenshots in $(CARGO_TARGET_DIR)/dashboard/.
.PHONY: dashboard-test
dashboard-test: web-tools e2e ## the dashboard in a real browser on the e2e localnet (screenshots in $CARGO_TARGET_DIR/dashboard)
	cargo build -q -p fairshare-relayer --bin fairshare
	cd clients/ts && node_modules/.bin/tsc -p tsconfig.json
	@bash $(LOCALNET_SCRIPTS)/start.sh
	@set -o pipefail; status=0; mkdir -p $(TEST_LOG_DIR); \
	  FAIRSHARE_BIN=$(abspath $(DEBUG_FAIRSHARE)) FAIRSHARE_SHOTS=$(abspath $(CARGO_TARGET_DIR))/dashboard \
	  node clients/ts/dist/test/dashboard.test.js 2>&1 | tee $(TEST_LOG_DIR)/dashboard.txt || status=$$?; \
	  bash $(LOCALNET_SCRIPTS)/stop.sh; exit $$status

TEST_PREREQS += clients-check dashboard-test
