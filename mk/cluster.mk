# The cluster: four wasmd validators, a kubo node, the relayer, three participants and three
# evaluators, each a process in its own network namespace (localnet/cluster/, root needed; without
# namespaces it falls back to 127.0.0.x addresses and says so). Data under
# $(FAIRSHARE_CACHE)/cluster. Not part of `make test`.

CLUSTER_SCRIPTS := localnet/cluster
CLUSTER_ENV := FAIRSHARE_BIN=$(abspath $(CARGO_TARGET_DIR))/debug/fairshare

.PHONY: cluster
cluster: wasmd kubo ## four validators, kubo, relayer, 3 participants, 3 evaluators in their own netns (idle until a round opens)
	cargo build -p fairshare-relayer --bin fairshare
	cargo test -p fairshare-relayer --test cluster -- --ignored --exact cluster_assets
	@$(CLUSTER_ENV) bash $(CLUSTER_SCRIPTS)/up.sh

.PHONY: cluster-stop
cluster-stop: ## stop every cluster process and remove its namespaces, bridge and veths (data kept)
	@bash $(CLUSTER_SCRIPTS)/down.sh

.PHONY: cluster-test
cluster-test: wasmd kubo ## two rounds through the cluster's services with injected faults; asserts, records figures
	cargo build -p fairshare-relayer --bin fairshare
	@set -o pipefail; status=0; mkdir -p $(TEST_LOG_DIR); \
	  $(CLUSTER_ENV) cargo test -p fairshare-relayer --test cluster -- --ignored --exact cluster_two_rounds_with_faults --nocapture 2>&1 \
	    | tee $(TEST_LOG_DIR)/cluster.log || status=$$?; \
	  bash $(CLUSTER_SCRIPTS)/down.sh; exit $$status
