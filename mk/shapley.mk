# Shapley valuation (packages/shapley): benchmark against shapiq and pyDVL. Not part of `make test`.
# SKIP_LEGACY=1 runs only the game-family comparison; FAMILY_SIZES / FAMILY_BUDGETS / FAMILY_SEEDS
# shrink it (e.g. FAMILY_SIZES=8,12 FAMILY_BUDGETS=100,1000 FAMILY_SEEDS=1 for a quick check).

.PHONY: bench-shapley
bench-shapley: ## Shapley estimators against shapiq 1.8 and pyDVL on generated game families (long)
	FAIRSHARE_CACHE="$(FAIRSHARE_CACHE)" bash bench/shapley/run.sh
