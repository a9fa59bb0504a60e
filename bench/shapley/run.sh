#!/usr/bin/env bash
# Shapley benchmark: fairshare-shapley against pyDVL on the same games, in one run.
# Not part of `make test`. Usage: bench/shapley/run.sh   (or `make bench-shapley`)
# Env: FAIRSHARE_CACHE (default ~/.cache/fairshare), RUNS (default 8), PYDVL_VERSION.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${FAIRSHARE_CACHE:-$HOME/.cache/fairshare}"
VENV="$CACHE/venv-pydvl"
WORK="$CACHE/bench-shapley"
RUNS="${RUNS:-8}"
PYDVL_VERSION="${PYDVL_VERSION:-0.10.0}"
mkdir -p "$WORK"

echo "== building release binaries" >&2
cargo build --release -p fairshare-shapley --bins >&2
BENCH=target/release/shapley-bench

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
