#!/usr/bin/env bash
# Trainer benchmark on SmolLM2-135M, candle (this crate, release build) vs PyTorch, same model,
# text, shapes and thread count, in one run:
#   1. f32 GEMM roof: GFLOP/s of candle's and torch's matmul on training-shaped products;
#   2. LoRA training tokens/s and peak RSS: `fairshare-trainer train` vs PyTorch + PEFT;
#   3. forward-only evaluation tokens/s (the valuation's coalition passes, seq 64, batch 8):
#      `LlamaModel::loss` without gradient vs PyTorch under torch.inference_mode.
# BASELINE_DIR (optional) holds `fairshare-trainer` and `speed` built from an earlier commit:
# they run in the same session as the "before" rows.
# Usage: make bench-trainer   (STEPS=8 THREADS=2 EVAL_WINDOWS=32 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
ASSETS="${FAIRSHARE_ASSETS:-$HOME/.cache/fairshare/assets}"
PY="${FAIRSHARE_PYTHON:-$HOME/.cache/fairshare/venv/bin/python}"
STEPS="${STEPS:-8}"
THREADS="${THREADS:-2}"
EVAL_WINDOWS="${EVAL_WINDOWS:-32}"
TARGET="${CARGO_TARGET_DIR:-target}"
GGUF="$(find "$ASSETS" -name 'SmolLM2-135M-Instruct*.gguf' | head -n1)"
HAMLET="$(find "$ASSETS" -name hamlet_gut.txt | head -n1)"
if [[ -z "$GGUF" || -z "$HAMLET" ]]; then
  echo "assets missing under $ASSETS: run \`make assets\`" >&2
  exit 1
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cargo build --release -p fairshare-trainer --bin fairshare-trainer --example speed >&2
cp "$TARGET/release/fairshare-trainer" "$TARGET/release/examples/speed" "$OUT/"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB; date: $(date -u +%FT%TZ)" >&2
export RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS"

train_candle() { # $1 = directory holding fairshare-trainer; $2 = "ffa" to train B only
  # Like-for-like with PEFT (which trains A and B): `--train-a` where the binary has it (builds
  # older than the shared frozen A train both factors without it). The protocol's own setting
  # (A frozen at the round's shared init, FFA-LoRA) is the extra "B only" row.
  local a=()
  if [[ "${2:-}" != ffa ]] && "$1/fairshare-trainer" train --help | grep -q -- --train-a; then
    a=(--train-a)
  fi
  "$1/fairshare-trainer" --threads "$THREADS" train "${a[@]}" \
    --model "$GGUF" --data "$HAMLET" --output "$OUT/bundle" --seq-len 128 --batch-size 4 \
    --rank 8 --alpha 16 --targets q_proj,v_proj --steps "$STEPS" --warmup-steps 0 --no-progress
}
eval_candle() { # $1 = directory holding speed
  "$1/speed" eval --model "$GGUF" --text "$HAMLET" --seq-len 64 --batch-size 8 \
    --windows "$EVAL_WINDOWS"
}

echo "== GEMM roof ==" >&2
load; "$OUT/speed" gemm
"$PY" bench/trainer/peft_bench.py --mode gemm --gguf "$GGUF" --text "$HAMLET" \
  --threads "$THREADS" 2>/dev/null
echo "== training: candle (this tree, A and B trained) ==" >&2
load; train_candle "$OUT"
echo "== training: candle (this tree, B only: the protocol's frozen shared A) ==" >&2
load; train_candle "$OUT" ffa
if [[ -n "${BASELINE_DIR:-}" ]]; then
  echo "== training: candle (baseline build in $BASELINE_DIR) ==" >&2
  load; train_candle "$BASELINE_DIR"
fi
echo "== training: PyTorch + PEFT ==" >&2
load; "$PY" bench/trainer/peft_bench.py --gguf "$GGUF" --text "$HAMLET" \
  --steps "$STEPS" --threads "$THREADS" 2>/dev/null
echo "== evaluation: candle (this tree) ==" >&2
load; eval_candle "$OUT"
if [[ -n "${BASELINE_DIR:-}" ]]; then
  echo "== evaluation: candle (baseline build) ==" >&2
  load; eval_candle "$BASELINE_DIR"
fi
echo "== evaluation: PyTorch inference_mode ==" >&2
load; "$PY" bench/trainer/peft_bench.py --mode eval --gguf "$GGUF" --text "$HAMLET" \
  --seq-len 64 --batch-size 8 --windows "$EVAL_WINDOWS" --threads "$THREADS" 2>/dev/null
load
