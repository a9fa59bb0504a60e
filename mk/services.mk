# Services for parties on separate hosts (relayer/src/store/, relay/, keystore.rs) and the kubo
# (IPFS) node of the bundle store. kubo is built from the Go module proxy into
# $(FAIRSHARE_CACHE)/kubo/<version>/ (localnet/kubo/); its node lives in $(FAIRSHARE_CACHE)/kubo/repo.

KUBO_SCRIPTS := localnet/kubo/scripts

.PHONY: kubo
kubo: ## build kubo (IPFS, version in localnet/kubo/go.mod) into the cache, if not built yet
	@bash $(KUBO_SCRIPTS)/build-kubo.sh

.PHONY: kubo-start
kubo-start: kubo ## start a kubo node on 127.0.0.1 (API :5001, no bootstrap peers) for the bundle store
	@bash $(KUBO_SCRIPTS)/start-kubo.sh

.PHONY: kubo-stop
kubo-stop: ## stop the kubo node started by kubo-start
	@bash $(KUBO_SCRIPTS)/stop-kubo.sh

.PHONY: test-services
test-services: kubo ## unit tests of the bundle store (both backends), keystore, relayer queue and services
	cargo test -p fairshare-relayer --lib -- store:: keystore:: relay:: participant:: evaluator:: --skip demo::

# The kubo store test runs in `make test` when kubo is built; building it is cheap (~1.5 min
# after a few minutes of module download the first time).
TEST_PREREQS += kubo
# Build it at install time (`make tools`), so the Go module download happens there, not in `make test`.
tools: kubo
