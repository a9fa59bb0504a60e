# wasmd localnet and the end-to-end test against it (localnet/, relayer/src/wasmd/).
# wasmd is built from the Go module proxy into $(FAIRSHARE_CACHE)/wasmd/<version>/ (once per
# version); the chain lives in $(FAIRSHARE_CACHE)/localnet/. Needs Go >= 1.25 and a C compiler.

LOCALNET_SCRIPTS := localnet/scripts

# The end-to-end round on a real node is part of `make test`. Measured on 2 cores: ~20 min the
# first time (Go modules ~2 min + wasmd compile ~15 min, while other builds ran), ~2.5 min after.
TEST_PREREQS += e2e

.PHONY: wasmd
wasmd: ## build wasmd (version in localnet/go.mod) into the cache, if not built yet
	@bash $(LOCALNET_SCRIPTS)/build-wasmd.sh

.PHONY: localnet
localnet: wasmd ## start a one-validator wasmd chain on 127.0.0.1 (RPC :26657), funded test accounts
	@bash $(LOCALNET_SCRIPTS)/init.sh
	@bash $(LOCALNET_SCRIPTS)/start.sh

.PHONY: localnet-stop
localnet-stop: ## stop the localnet node (keeps its data)
	@bash $(LOCALNET_SCRIPTS)/stop.sh

.PHONY: localnet-reset
localnet-reset: wasmd ## stop the localnet, wipe its chain and initialise a fresh one (not started)
	@bash $(LOCALNET_SCRIPTS)/stop.sh
	@bash $(LOCALNET_SCRIPTS)/init.sh --force

.PHONY: e2e
e2e: wasm localnet-reset ## end-to-end round on a fresh localnet with the real wasm artifacts
	@bash $(LOCALNET_SCRIPTS)/start.sh
	@set -o pipefail; status=0; \
	  mkdir -p $(TEST_LOG_DIR); \
	  cargo test -p fairshare-relayer --test e2e_wasmd --test e2e_cli -- --ignored --nocapture --test-threads=1 --skip gas_per_message 2>&1 | tee $(TEST_LOG_DIR)/e2e.log || status=$$?; \
	  bash $(LOCALNET_SCRIPTS)/stop.sh; exit $$status

.PHONY: bench-gas
bench-gas: wasm localnet-reset ## gas per message on a fresh localnet (table for BENCHMARKS.md ## Gas)
	@bash $(LOCALNET_SCRIPTS)/start.sh
	@set -o pipefail; status=0; \
	  cargo test -p fairshare-relayer --test e2e_wasmd -- --ignored --nocapture gas_per_message || status=$$?; \
	  bash $(LOCALNET_SCRIPTS)/stop.sh; exit $$status
