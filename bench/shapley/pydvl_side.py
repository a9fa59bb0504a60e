"""pyDVL side of the Shapley benchmark (run by bench/shapley/run.sh, never by tests).

Measures, on the same utility tables the Rust side uses:
  * overhead: wall time per utility evaluation of pyDVL's permutation sampler on a table game
    (n = 10, 20) and on an additive game (n = 100, where no table fits);
  * error: RMSE against exact values of pyDVL's permutation Monte Carlo and TMC
    (TMCShapleyValuation defaults: rtol 0.01, burn-in 0.4) for several permutation budgets,
    with the number of utility evaluations actually made.
Prints one JSON object.
"""

import argparse
import json
import time

import numpy as np
from pydvl.valuation import (
    MaxUpdates,
    PermutationSampler,
    ShapleyValuation,
    TMCShapleyValuation,
)
from pydvl.valuation.games import Game


class TableGame(Game):
    """A game whose coalition values come from a dict keyed by bit mask."""

    def __init__(self, n, table):
        super().__init__(n)
        self.table = table
        self.calls = 0

    def _score(self, X):
        self.calls += 1
        mask = int(np.sum(np.left_shift(1, X.ravel().astype(np.int64))))
        return self.table[mask]


class AdditiveGame(Game):
    def __init__(self, n):
        super().__init__(n)
        self.w = np.arange(n, dtype=float)
        self.calls = 0

    def _score(self, X):
        self.calls += 1
        return float(self.w[X.ravel()].sum())


def load_table(path):
    table = {}
    n = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                if "n_players" in line:
                    n = int(line.split("=")[1])
                continue
            if not line or line.startswith("coalition"):
                continue
            bits, value = line.rsplit(",", 1)
            # character i is player i
            mask = int(bits[::-1], 2)
            table[mask] = float(value)
    return n, table


def run(game, make, seed):
    game.calls = 0
    valuation = make(game, seed)
    start = time.perf_counter()
    valuation.fit(game.data)
    secs = time.perf_counter() - start
    return valuation.result.values, game.calls, secs


def permutation(k):
    return lambda g, seed: ShapleyValuation(
        g.u, PermutationSampler(seed=seed), MaxUpdates(k), progress=False
    )


def tmc(k):
    return lambda g, seed: TMCShapleyValuation(
        g.u, is_done=MaxUpdates(k), seed=seed, progress=False
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sizes", default="10,16,20")
    ap.add_argument("--perms", default="10,40,160,640")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--overhead-evals", type=int, default=20000)
    args = ap.parse_args()
    out = {"overhead": [], "errors": []}

    for n in (10, 20, 100):
        if n <= 20:
            _, table = load_table(f"{args.dir}/t{n}.csv")
            game = TableGame(n, table)
            kind = "table"
        else:
            game = AdditiveGame(n)
            kind = "additive"
        k = max(2, args.overhead_evals // n)
        _, calls, secs = run(game, permutation(k), 1)
        out["overhead"].append(
            {"players": n, "utility": kind, "evaluations": calls, "seconds": secs,
             "us_per_evaluation": secs * 1e6 / calls}
        )

    for n in map(int, args.sizes.split(",")):
        _, table = load_table(f"{args.dir}/t{n}.csv")
        truth = np.array(json.load(open(f"{args.dir}/e{n}.json")))
        game = TableGame(n, table)
        for name, maker in (("pydvl_permutation", permutation), ("pydvl_tmc", tmc)):
            for k in map(int, args.perms.split(",")):
                sq, evals, secs = 0.0, 0, 0.0
                for seed in range(args.runs):
                    values, calls, s = run(game, maker(k), 100 + seed)
                    sq += float(np.sum((values - truth) ** 2))
                    evals += calls
                    secs += s
                out["errors"].append(
                    {"players": n, "method": name, "permutations": k,
                     "mean_evaluations": evals / args.runs,
                     "rmse": (sq / (args.runs * n)) ** 0.5,
                     "seconds_per_run": secs / args.runs}
                )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
