"""Merges the family runs of both sides into Markdown: mean relative L2 error over seeds per
(family, n, budget), the best shapiq and pyDVL method, this crate's default estimator and the
ratio default / best baseline (goal: ≤ 1.0 everywhere, ≤ 0.5 on concave data games), and the
share of the default's φᵢ within 2 standard errors of the truth (nominal ≈ 0.95). Errors below
EXACT (float rounding of exact values) count as exact on both sides.

Usage: families_report.py RUST.jsonl PY.jsonl [DEFAULT_METHOD]
"""

import collections
import json
import sys

EXACT = 1e-9


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line:
            r = json.loads(line)
            if "rel_l2" in r:
                rows.append(r)
    return rows


def main():
    rust, py = load(sys.argv[1]), load(sys.argv[2])
    default = sys.argv[3] if len(sys.argv) > 3 else "regression_adjusted"
    err = collections.defaultdict(list)
    evals = collections.defaultdict(list)
    cover = collections.defaultdict(lambda: [0, 0])
    for r in rust + py:
        k = (r["family"], r["n"], r["budget"], r["method"])
        err[k].append(r["rel_l2"])
        evals[k].append(r["evaluations"])
        if "within_2se" in r:
            cover[k][0] += r["within_2se"]
            cover[k][1] += r["n"]
    cells = collections.defaultdict(dict)
    for (fam, n, b, m), v in err.items():
        cells[(fam, n, b)][m] = (sum(v) / len(v), max(evals[(fam, n, b, m)]), len(v))
    ours = sorted({r["method"] for r in rust})
    print("| family | n | budget | default (" + default + ") | best shapiq | best pyDVL | "
          "ratio to best | goal | within 2 SE | other fairshare |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    misses = []
    for key in sorted(cells):
        fam, n, b = key
        d = cells[key]
        if default not in d:
            continue
        mine = d[default][0]
        base = {m: v for m, v in d.items() if m.startswith(("shapiq_", "pydvl_"))}
        # A baseline that asked for more distinct coalitions than the budget is not equal-cost.
        fair = {m: v for m, v in base.items() if v[1] <= b}
        over = sorted(m for m in base if m not in fair)
        best_s = min(((v[0], m) for m, v in fair.items() if m.startswith("shapiq_")), default=None)
        best_p = min(((v[0], m) for m, v in fair.items() if m.startswith("pydvl_")), default=None)
        best = min(x for x in (best_s, best_p) if x is not None) if (best_s or best_p) else None
        goal = 0.5 if fam == "concave" else 1.0
        if best is None:
            ratio, verdict = "—", "no baseline"
        elif best[0] < EXACT:
            ratio = "exact" if mine < EXACT else "∞"
            verdict = "met" if mine < EXACT else "MISSED"
        else:
            rv = mine / best[0]
            ratio = f"{rv:.2f}"
            verdict = "met" if rv <= goal else "MISSED"
        if verdict == "MISSED":
            misses.append((fam, n, b, ratio))
        fmt = lambda x: "—" if x is None else f"{x[0]:.4f} ({x[1].split('_', 1)[1]})"
        others = ", ".join(f"{m} {d[m][0]:.4f}" for m in ours if m != default and m in d)
        note = f" (over budget: {', '.join(o.split('_', 1)[1] for o in over)})" if over else ""
        c = cover.get((fam, n, b, default), [0, 0])
        cov = f"{c[0] / c[1]:.2f}" if c[1] else "—"
        print(f"| {fam} | {n} | {b} | {mine:.4f} | {fmt(best_s)} | {fmt(best_p)} | {ratio} | "
              f"{verdict} (≤ {goal}×){note} | {cov} | {others} |")
    print()
    # 2-SE coverage of the default per family, over the cells where it is not exact.
    for fam in sorted({k[0] for k in cells}):
        hit = tot = 0
        for (f, n, b, m), c in cover.items():
            mean = sum(err[(f, n, b, m)]) / len(err[(f, n, b, m)])
            if f == fam and m == default and mean >= EXACT:
                hit, tot = hit + c[0], tot + c[1]
        if tot:
            print(f"- {fam}: {hit / tot:.2f} of the default's φᵢ within 2 SE (sampled cells).")
    print()
    if misses:
        print("Goal missed at: " + "; ".join(f"{f} n={n} budget {b} (ratio {r})"
                                              for f, n, b, r in misses) + ".")
    else:
        print("Goal met at every (family, n, budget) cell.")


if __name__ == "__main__":
    main()
