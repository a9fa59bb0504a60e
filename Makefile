# Fairshare — every target a user or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Caches live outside the repository so later runs are fast.
FAIRSHARE_CACHE ?= $(HOME)/.cache/fairshare
export FAIRSHARE_CACHE
TOOLS_DIR := $(FAIRSHARE_CACHE)/tools
NPM_DIR := $(FAIRSHARE_CACHE)/npm
WASM_OPT := $(NPM_DIR)/node_modules/.bin/wasm-opt
COSMWASM_CHECK := $(TOOLS_DIR)/bin/cosmwasm-check
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
WASM_TARGET_DIR := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm

# Fragments from each part of the project (trainer assets, python venv, ...).
# Each may append targets to TEST_PREREQS and DEMO_PREREQS.
TEST_PREREQS :=
DEMO_PREREQS :=
-include mk/*.mk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- tools (cached outside the repo)
$(WASM_OPT):
	@mkdir -p $(NPM_DIR)
	cd $(NPM_DIR) && npm install --no-audit --no-fund --prefix . binaryen@132.0.0

$(COSMWASM_CHECK):
	cargo install cosmwasm-check --version 3.0.10 --root $(TOOLS_DIR)

.PHONY: tools
tools: $(WASM_OPT) $(COSMWASM_CHECK) ## install the wasm toolchain: wasm32 target, binaryen, cosmwasm-check
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

# ---------------------------------------------------------------- contracts
CONTRACT_CRATES := $(notdir $(wildcard contracts/*))
.PHONY: wasm
wasm: tools ## build every contract to wasm, lower bulk-memory, cosmwasm-check, write artifacts/
	cargo build --profile wasm --lib --target wasm32-unknown-unknown $(foreach c,$(CONTRACT_CRATES),-p fairshare-$(c))
	@mkdir -p artifacts
	@set -e; for c in $(CONTRACT_CRATES); do \
	  n=fairshare_$$(echo $$c | tr - _); \
	  $(WASM_OPT) -Os --one-caller-inline-max-function-size=500 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	    --enable-nontrapping-float-to-int --llvm-memory-copy-fill-lowering --signext-lowering \
	    $(WASM_TARGET_DIR)/$$n.wasm -o artifacts/$$n.wasm; \
	  $(COSMWASM_CHECK) artifacts/$$n.wasm; \
	done
	cd artifacts && sha256sum *.wasm > checksums.txt && cat checksums.txt
	@ls -l artifacts/*.wasm | awk '{printf "  %-40s %7.1f KiB\n", $$9, $$5/1024}'

.PHONY: schema
schema: ## regenerate the JSON schemas in schema/
	cargo run -q -p fairshare-integration-tests --bin fairshare-schema -- schema

# ---------------------------------------------------------------- checks
.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	cargo fmt --all -- --check

.PHONY: clippy
clippy: ## cargo clippy -D warnings on every crate and target
	cargo clippy --workspace --all-targets -- -D warnings

TEST_LOG_DIR := $(CARGO_TARGET_DIR)/test-logs
export TEST_LOG_DIR

.PHONY: unit
unit: ## cargo test on the whole workspace (unit, cross-contract, adversarial, property, schema)
	@mkdir -p $(TEST_LOG_DIR)
	set -o pipefail; cargo test --workspace 2>&1 | tee $(TEST_LOG_DIR)/unit.log

.PHONY: bench-contracts
bench-contracts: ## wall time and memory of whole rounds on the embedded chain vs CW20 transfers
	cargo run --release -p fairshare-relayer --example round_bench -- 3 50 100

.PHONY: test
test: $(TEST_PREREQS) fmt-check clippy unit wasm ## everything CI runs
	@echo "make test: all checks passed"
	@cat $(TEST_LOG_DIR)/*.log | awk '/^test result:/ {p += $$4; f += $$6; i += $$8} \
	  END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, i}'

# ---------------------------------------------------------------- main job
.PHONY: demo
demo: $(DEMO_PREREQS) $(FAIRSHARE) ## a federated run with training on the embedded chain, then the economics simulation → report/
	$(FAIRSHARE) demo --sybil --out $(REPORT_DIR)/demo
	$(MAKE) --no-print-directory simulate
