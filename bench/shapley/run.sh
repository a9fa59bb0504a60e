#!/usr/bin/env bash
# Shapley benchmark: fairshare-shapley against pyDVL on the same games, in one run.
# Not part of `make test`. Usage: bench/shapley/run.sh   (or `make bench-shapley`)
# Env: FAIRSHARE_CACHE (default ~/.cache/fairshare), RUNS (default 8), PYDVL_VERSION,
#      SKIP_LEGACY=1 (only the game-family comparison), FAMILY_SIZES, FAMILY_BUDGETS,
#      FAMILY_SEEDS, PYTHON312 (an interpreter >= 3.12 for shapiq).
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${FAIRSHARE_CACHE:-$HOME/.cache/fairshare}"
VENV="$CACHE/venv-pydvl"
WORK="$CACHE/bench-shapley"
RUNS="${RUNS:-8}"
PYDVL_VERSION="${PYDVL_VERSION:-0.10.0}"
mkdir -p "$WORK"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "== building release binaries" >&2
cargo build --release -p fairshare-shapley --bins >&2

BENCH_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"
BENCH="$BENCH_DIR/shapley-bench"

# ---- Game families: fairshare's estimators beside shapiq's and pyDVL's, same games, one run.
SHAPIQ_VENV="$CACHE/venv-shapiq"
PY312="${PYTHON312:-$(command -v python3.12 || ls /root/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | head -1)}"
if [ ! -x "$SHAPIQ_VENV/bin/python" ]; then
  echo "== python venv with shapiq 1.8 and pydvl==$PYDVL_VERSION in $SHAPIQ_VENV" >&2
  "$PY312" -m venv "$SHAPIQ_VENV"
fi
"$SHAPIQ_VENV/bin/pip" install -q "shapiq==1.8.*" "pydvl==$PYDVL_VERSION" >&2
VERSIONS="$("$SHAPIQ_VENV/bin/python" -c 'import importlib.metadata as m; print("shapiq", m.version("shapiq"), "/ pyDVL", m.version("pydvl"))')"
FDIR="$WORK/families"
rm -rf "$FDIR"; mkdir -p "$FDIR"
SIZES="${FAMILY_SIZES:-8,12,16,20}"
BUDGETS="${FAMILY_BUDGETS:-100,300,1000,3000,10000}"
SEEDS="${FAMILY_SEEDS:-3}"
echo "== families: fairshare side (n = $SIZES, budgets $BUDGETS, $SEEDS seeds)" >&2
"$BENCH" families --dir "$FDIR" --sizes "$SIZES" --budgets "$BUDGETS" --seeds "$SEEDS" \
  --methods replayable,replayable_neyman,regression_adjusted,stratified_svarm,kernel_shap,stratified,antithetic > "$WORK/families-rust.jsonl"
echo "== families: shapiq and pyDVL side ($VERSIONS)" >&2
"$SHAPIQ_VENV/bin/python" bench/shapley/families_side.py --dir "$FDIR" --budgets "$BUDGETS" \
  > "$WORK/families-py.jsonl"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);"
  echo "load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg); $VERSIONS."
  echo
  # The default is the estimator the evaluator uses above 8 players (replayable on chain).
  python3 bench/shapley/families_report.py "$WORK/families-rust.jsonl" "$WORK/families-py.jsonl" replayable
} | tee "$WORK/families-report.md"
[ "${SKIP_LEGACY:-0}" = 1 ] && exit 0

echo "== python venv with pydvl==$PYDVL_VERSION in $VENV" >&2
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q "pydvl==$PYDVL_VERSION" >&2
PYDVL_INSTALLED="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pydvl"))')"

echo "== utility tables" >&2
for n in 10 16 20; do
  "$BENCH" table --players "$n" --out "$WORK/t$n.csv" --exact-out "$WORK/e$n.json" >&2
done

echo "== pyDVL side" >&2
PYTHONWARNINGS=ignore "$VENV/bin/python" bench/shapley/pydvl_side.py --dir "$WORK" --runs "$RUNS" \
  > "$WORK/pydvl.json"

echo "== Rust side" >&2
{
  echo '{"overhead": ['
  "$BENCH" overhead --table "$WORK/t10.csv" --evaluations 2000000; echo ','
  "$BENCH" overhead --table "$WORK/t20.csv" --evaluations 2000000; echo ','
  "$BENCH" overhead --additive 100 --evaluations 2000000
  echo '], "errors": ['
  first=1
  for n in 10 16 20; do
    # Equal budgets: the evaluation counts pyDVL actually made, per permutation budget.
    budgets="$(python3 -c "import json,sys; d=json.load(open('$WORK/pydvl.json')); print(','.join(sorted({str(int(round(r['mean_evaluations']))) for r in d['errors'] if r['players']==$n})))")"
    [ $first = 1 ] || echo ','
    first=0
    "$BENCH" errors --table "$WORK/t$n.csv" --exact "$WORK/e$n.json" --budgets "$budgets" \
      --methods permutation,antithetic,tmc,gtg,stratified --runs "$RUNS"
  done
  echo '], "exact": ['
  "$BENCH" exact --table "$WORK/t20.csv"; echo ','
  "$BENCH" exact --synthetic 20
  echo ']}'
} > "$WORK/rust.json"

python3 bench/shapley/report.py "$WORK/pydvl.json" "$WORK/rust.json" "$PYDVL_INSTALLED" | tee "$WORK/report.md"
