# Shapley valuation (packages/shapley): benchmark against pyDVL. Not part of `make test`.

.PHONY: bench-shapley
bench-shapley: ## run the Shapley benchmark against pyDVL
	FAIRSHARE_CACHE="$(FAIRSHARE_CACHE)" bash bench/shapley/run.sh
