#!/usr/bin/env bash
# Trainer benchmark: LoRA training tokens/s and peak memory on SmolLM2-135M, candle (this crate,
# release build) vs PyTorch + PEFT, same model, text, shapes and thread count, in one run.
# Usage: make bench-trainer   (STEPS=8 THREADS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
ASSETS="${FAIRSHARE_ASSETS:-$HOME/.cache/fairshare/assets}"
PY="${FAIRSHARE_PYTHON:-$HOME/.cache/fairshare/venv/bin/python}"
STEPS="${STEPS:-8}"
THREADS="${THREADS:-2}"
GGUF="$(find "$ASSETS" -name 'SmolLM2-135M-Instruct*.gguf' | head -n1)"
HAMLET="$(find "$ASSETS" -name hamlet_gut.txt | head -n1)"
if [[ -z "$GGUF" || -z "$HAMLET" ]]; then
  echo "assets missing under $ASSETS: run \`make assets\`" >&2
  exit 1
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cargo build --release -p fairshare-trainer --bin fairshare-trainer >&2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB; date: $(date -u +%F)" >&2
echo "== candle (fairshare-trainer) ==" >&2
RAYON_NUM_THREADS="$THREADS" target/release/fairshare-trainer --threads "$THREADS" train \
  --model "$GGUF" --data "$HAMLET" --output "$OUT/bundle" --seq-len 128 --batch-size 4 \
  --rank 8 --alpha 16 --targets q_proj,v_proj --steps "$STEPS" --warmup-steps 0 --no-progress \
  | tee "$OUT/candle.json"
echo "== PyTorch + PEFT ==" >&2
OMP_NUM_THREADS="$THREADS" "$PY" bench/trainer/peft_bench.py --gguf "$GGUF" --text "$HAMLET" \
  --steps "$STEPS" --threads "$THREADS" 2>/dev/null | tee "$OUT/peft.json"
