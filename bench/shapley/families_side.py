"""shapiq and pyDVL on the game families `shapley-bench families` wrote (run by
bench/shapley/run.sh, never by tests).

Every game is a table of values by coalition mask (raw little-endian f64) with its exact
Shapley values beside it. Each approximator gets the same evaluation budgets; the number of
distinct coalitions it actually asked for is recorded with the relative L2 error. Prints one
JSON object per line.
"""

import argparse
import glob
import json
import os
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def shapiq_methods(n):
    import shapiq.approximator as a

    out = {
        "shapiq_KernelSHAP_paired": lambda s: a.KernelSHAP(n, pairing_trick=True, random_state=s),
        "shapiq_LeverageSHAP": lambda s: a.LeverageSHAP(n, random_state=s),
        "shapiq_RegressionMSR": lambda s: a.RegressionMSR(n, "SV", random_state=s),
        "shapiq_SVARM": lambda s: a.SVARM(n, random_state=s),
        "shapiq_StratifiedSVARM": lambda s: a.SVARM(n, random_state=s, pairing_trick=True),
        "shapiq_StratifiedSamplingSV": lambda s: a.StratifiedSamplingSV(n, random_state=s),
        "shapiq_PermutationSamplingSV": lambda s: a.PermutationSamplingSV(n, random_state=s),
    }
    if hasattr(a, "OddSHAP"):
        out["shapiq_OddSHAP"] = lambda s: a.OddSHAP(n, random_state=s)
    if hasattr(a, "PolySHAP"):
        out["shapiq_PolySHAP"] = lambda s: a.PolySHAP(n, random_state=s)
    return out


class Counter:
    """A shapiq game over a value table that counts distinct coalitions asked for."""

    def __init__(self, n, values):
        self.n = n
        self.values = values
        self.pow = (1 << np.arange(n)).astype(np.int64)
        self.seen = set()

    def __call__(self, coalitions):
        # Some approximators pass one coalition as a 1-D vector.
        masks = np.atleast_2d(np.asarray(coalitions, dtype=bool)).astype(np.int64) @ self.pow
        self.seen.update(masks.tolist())
        return self.values[masks]


def shapiq_run(make, n, values, budget, seed):
    game = Counter(n, values)
    approx = make(seed)
    iv = approx.approximate(budget, game)
    phi = np.array([iv[(i,)] for i in range(n)])
    return phi, len(game.seen)


def pydvl_run(kind, n, values, budget, seed):
    from pydvl.valuation import (
        AntitheticPermutationSampler,
        MaxUpdates,
        PermutationSampler,
        ShapleyValuation,
        TMCShapleyValuation,
    )
    from pydvl.valuation.games import Game

    class TableGame(Game):
        def __init__(self):
            super().__init__(n)
            self.seen = set()

        def _score(self, X):
            mask = int(np.sum(np.left_shift(1, X.ravel().astype(np.int64))))
            self.seen.add(mask)
            return float(values[mask])

    g = TableGame()
    perms = max(2, budget // n)
    if kind == "pydvl_permutation":
        val = ShapleyValuation(g.u, PermutationSampler(seed=seed), MaxUpdates(perms), progress=False)
    elif kind == "pydvl_antithetic":
        val = ShapleyValuation(
            g.u, AntitheticPermutationSampler(seed=seed), MaxUpdates(perms), progress=False
        )
    else:
        val = TMCShapleyValuation(g.u, is_done=MaxUpdates(perms), seed=seed, progress=False)
    val.fit(g.data)
    return np.asarray(val.result.values), len(g.seen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--budgets", default="100,300,1000,3000,10000")
    ap.add_argument("--pydvl", default="pydvl_permutation,pydvl_antithetic,pydvl_tmc")
    ap.add_argument("--skip", default="", help="comma-separated method names to skip")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    budgets = [int(b) for b in args.budgets.split(",")]
    for path in sorted(glob.glob(os.path.join(args.dir, "*.f64"))):
        stem = os.path.basename(path)[:-4]
        family, ntag, stag = stem.split("_")
        n, seed = int(ntag[1:]), int(stag[1:])
        values = np.fromfile(path, dtype="<f8")
        truth = np.array(json.load(open(path[:-4] + ".json")))
        norm = float(np.linalg.norm(truth))
        methods = [(k, ("shapiq", v)) for k, v in shapiq_methods(n).items()]
        methods += [(k, ("pydvl", k)) for k in args.pydvl.split(",") if k]
        for name, (side, make) in methods:
            if name in skip:
                continue
            for b in budgets:
                t0 = time.perf_counter()
                try:
                    if side == "shapiq":
                        phi, evals = shapiq_run(make, n, values, b, 1000 + seed)
                    else:
                        phi, evals = pydvl_run(make, n, values, b, 1000 + seed)
                except Exception as e:  # a method refusing a budget is recorded, not fatal
                    print(json.dumps({"family": family, "n": n, "seed": seed, "method": name,
                                      "budget": b, "error": str(e)[:200]}), flush=True)
                    continue
                err = float(np.linalg.norm(phi - truth)) / max(norm, 1e-300)
                print(json.dumps({"family": family, "n": n, "seed": seed, "method": name,
                                  "budget": b, "evaluations": evals, "rel_l2": err,
                                  "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
