"""Merges the two sides of the Shapley benchmark into Markdown for BENCHMARKS.md."""

import datetime
import json
import os
import platform
import sys


def main():
    py = json.load(open(sys.argv[1]))
    rs = json.load(open(sys.argv[2]))
    version = sys.argv[3]
    print(f"Date: {datetime.date.today()}; machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, {platform.platform()}; pyDVL {version}.\n")

    print("### Overhead per utility evaluation (permutation sampling, near-free utility)\n")
    print("| n | utility | fairshare µs/eval | pyDVL µs/eval | ratio |")
    print("|---|---|---|---|---|")
    for r, p in zip(rs["overhead"], py["overhead"]):
        ratio = p["us_per_evaluation"] / r["us_per_evaluation"]
        print(f"| {r['players']} | {p['utility']} | {r['us_per_evaluation']:.3f} | "
              f"{p['us_per_evaluation']:.1f} | {ratio:.0f}× |")

    print("\n### RMSE against exact values at equal utility evaluations\n")
    ours = {}
    for block in rs["errors"]:
        for row in block["rows"]:
            ours[(block["players"], row["method"], row["budget"])] = row["rmse"]
    methods = ["permutation", "antithetic", "tmc", "gtg", "stratified"]
    print("| n | evals | pyDVL perm | pyDVL TMC | " + " | ".join(methods) + " |")
    print("|---" * (4 + len(methods)) + "|")
    by_key = {}
    for r in py["errors"]:
        by_key.setdefault((r["players"], r["permutations"]), {})[r["method"]] = r
    for (n, k), d in sorted(by_key.items()):
        perm, tmc = d["pydvl_permutation"], d["pydvl_tmc"]
        budget = int(round(perm["mean_evaluations"]))
        tmc_budget = int(round(tmc["mean_evaluations"]))
        cells = []
        for m in methods:
            v = ours.get((n, m, budget))
            cells.append("—" if v is None else f"{v:.4f}")
        print(f"| {n} | {budget} | {perm['rmse']:.4f} | {tmc['rmse']:.4f} (at {tmc_budget}) | "
              + " | ".join(cells) + " |")

    print("\n### Exact enumeration at n = 20\n")
    for e in rs["exact"]:
        src = "table (1,048,576 rows)" if e["load_seconds"] > 0 else "synthetic game, on the fly"
        print(f"- {src}: {e['exact_seconds']:.3f} s on {e['threads']} threads"
              + (f" (+ {e['load_seconds']:.2f} s to parse the CSV)" if e["load_seconds"] > 0 else ""))


if __name__ == "__main__":
    main()
