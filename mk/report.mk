# The report (report/): the federated demo's figures and the economics simulation.
# Included by the root Makefile.

REPORT_DIR ?= report
FAIRSHARE := $(CARGO_TARGET_DIR)/release/fairshare

.PHONY: fonts simulate report

# Plots need one TrueType font at run time (plotters draws text with it); Debian's
# fonts-dejavu-core is the usual one. FAIRSHARE_FONT may point at any .ttf instead.
fonts: ## make sure a TrueType font is installed for the plots
	@if [ -n "$$FAIRSHARE_FONT" ] || find /usr/share/fonts /usr/local/share/fonts -name '*.ttf' 2>/dev/null | grep -q .; then \
	  echo "fonts: ok"; \
	else \
	  echo "fonts: installing fonts-dejavu-core"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq fonts-dejavu-core; \
	fi

TEST_PREREQS += fonts
DEMO_PREREQS += assets fonts

$(FAIRSHARE): FORCE
	cargo build -q --release -p fairshare-relayer --bin fairshare

.PHONY: FORCE
FORCE:

# Whole-run leave-one-party-out reruns per scheme and seed (2 per data-size tercile): each costs
# one full market run, so they are off in a bare `fairshare simulate` (≤ 30 s) and on here.
RERUNS ?= 6

simulate: fonts $(FAIRSHARE) ## the economics: 1-D cohort model and market model (1000 agents × 200 rounds × 10 seeds, with $(RERUNS) whole-run reruns per seed; places report/phase.json if present, and the real-training records of demo-spread*, demo-counterfactual and demo-merge; ≈ 3 min) → report/
	$(FAIRSHARE) simulate --out $(REPORT_DIR) --reruns $(RERUNS) \
	  $(if $(wildcard $(REPORT_DIR)/demo/calibration.json),--calibration $(REPORT_DIR)/demo/calibration.json) \
	  $(foreach run,$(wildcard $(REPORT_DIR)/demo/run.json $(REPORT_DIR)/demo-lying-*/run.json $(REPORT_DIR)/demo-smollm2/run.json),--demo $(run))

# The phase diagrams (minutes, not in `make test`): every claim's verdict over (cost × budget) and
# (data spread × adversary share); `make simulate` afterwards places them in the report.
.PHONY: phase
phase: fonts $(FAIRSHARE) ## the market model's phase diagrams (50 smaller markets; ≈ 1.5 min on 2 cores) → report/phase.json
	$(FAIRSHARE) simulate --out $(REPORT_DIR) \
	  $(if $(wildcard $(REPORT_DIR)/demo/calibration.json),--calibration $(REPORT_DIR)/demo/calibration.json) phase

.PHONY: demo-lying
demo-lying: assets fonts $(FAIRSHARE) ## the run with a lying evaluator: disputed and struck out (4 evaluators), and outvoted with a fabricated table (3) → report/demo-lying-*
	$(FAIRSHARE) demo --lying-evaluator inconsistent --evaluators 4 --out $(REPORT_DIR)/demo-lying-disputed
	$(FAIRSHARE) demo --lying-evaluator consistent --out $(REPORT_DIR)/demo-lying-outvoted

.PHONY: demo-sybil-retrain
demo-sybil-retrain: assets fonts $(FAIRSHARE) ## the run whose Sybil trains its text twice with different data-order seeds (caught: the round-seeded LoRA init makes the two ΔW similar) → report/demo-sybil-retrain
	$(FAIRSHARE) demo --sybil retrain --out $(REPORT_DIR)/demo-sybil-retrain

# Seeds of `make demo-spread`; BASE_SEED keeps one pretrained base for all (empty: each seed
# pretrains its own, ≈ 2 min more per seed).
SEEDS ?= 1 2 3
BASE_SEED ?= 7
REPORT_EMPTY :=
REPORT_COMMA := ,
REPORT_SPACE := $(REPORT_EMPTY) $(REPORT_EMPTY)

.PHONY: demo-spread
demo-spread: assets fonts $(FAIRSHARE) ## the demo (with --sybil) once per seed in SEEDS="1 2 3" (≈ 3 min each; by hand, not CI): which claims hold in how many seeds → report/demo-spread/spread.md; COUNTERFACTUAL=1 adds each seed's leave-one-out runs, with a retraining Sybil (≈ 5 min each) → report/demo-spread-counterfactual
	$(FAIRSHARE) demo --sybil $(if $(strip $(COUNTERFACTUAL)),retrain) --spread $(subst $(REPORT_SPACE),$(REPORT_COMMA),$(strip $(SEEDS))) \
	  $(if $(strip $(BASE_SEED)),--base-seed $(strip $(BASE_SEED))) \
	  $(if $(strip $(COUNTERFACTUAL)),--counterfactual) \
	  --out $(REPORT_DIR)/demo-spread$(if $(strip $(COUNTERFACTUAL)),-counterfactual)

.PHONY: demo-counterfactual
demo-counterfactual: assets fonts $(FAIRSHARE) ## the demo beside its n leave-one-participant-out runs, scored on unseen test text; ranks each scheme's rewards by counterfactual contribution (≈ 15 min; `make simulate` then states it under "Real training") → report/demo-counterfactual
	$(FAIRSHARE) demo --counterfactual --out $(REPORT_DIR)/demo-counterfactual
	rm -rf $(REPORT_DIR)/demo-counterfactual/plots $(REPORT_DIR)/demo-counterfactual/round-* \
	  $(REPORT_DIR)/demo-counterfactual/calibration.json $(REPORT_DIR)/demo-counterfactual/duplicates.json \
	  $(REPORT_DIR)/demo-counterfactual/counterfactual

# The dilution test: the same counterfactual run (seed MERGE_SEED, retraining Sybil) with the
# global model merged by each rule in MERGE_RULES; keeps only the records the report reads.
MERGE_RULES ?= tokens roster equal
MERGE_SEED ?= 1

.PHONY: demo-merge
demo-merge: assets fonts $(FAIRSHARE) ## the counterfactual run (seed 1, retraining Sybil) once per merge rule in MERGE_RULES="tokens roster equal" (≈ 15–20 min each): does the global model's merge rule change how each scheme ranks by counterfactual contribution? → report/demo-merge/<rule>
	for rule in $(MERGE_RULES); do \
	  $(FAIRSHARE) demo --counterfactual --sybil retrain --seed $(MERGE_SEED) --base-seed $(BASE_SEED) \
	    --merge $$rule --out $(REPORT_DIR)/demo-merge/$$rule || exit 1; \
	  rm -rf $(REPORT_DIR)/demo-merge/$$rule/plots $(REPORT_DIR)/demo-merge/$$rule/round-* \
	    $(REPORT_DIR)/demo-merge/$$rule/calibration.json $(REPORT_DIR)/demo-merge/$$rule/duplicates.json; \
	done

.PHONY: demo-wasmd
demo-wasmd: assets fonts localnet $(FAIRSHARE) ## the federated run on the localnet's wasmd node (phases of 4 min each; ≈ 25 min)
	$(FAIRSHARE) demo --chain wasmd --out $(REPORT_DIR)/demo-wasmd

.PHONY: demo-smollm2
demo-smollm2: assets fonts $(FAIRSHARE) ## the federated run on SmolLM2-135M (less text per participant; ≈ 5 min on 2 cores)
	$(FAIRSHARE) demo --model smollm2 --max-chars 20000 --valid-chars 3000 --out $(REPORT_DIR)/demo-smollm2
