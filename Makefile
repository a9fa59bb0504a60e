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
CONTRACTS := round-manager escrow incentive-token
WASM_TARGET_DIR := target/wasm32-unknown-unknown/wasm

# Fragments from each part of the project (trainer assets, python venv, ...).
# Each may append targets to TEST_PREREQS and DEMO_PREREQS.
TEST_PREREQS :=
DEMO_PREREQS :=
-include mk/*.mk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
