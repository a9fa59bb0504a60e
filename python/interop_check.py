"""Compare candle's logits with Hugging Face transformers and PEFT on the same tiny model.

Usage: interop_check.py --model DIR --candle candle.json [--adapter NAME=DIR ...] [--tol 1e-4]

`candle.json` (written by trainer/tests/interop.rs) holds the input ids, candle's logits of the
base model, and candle's logits with each adapter. The base model is loaded with
`LlamaForCausalLM.from_pretrained`, each adapter with `PeftModel.from_pretrained`. Prints a JSON
report of the largest absolute differences; exits 1 if any exceeds the tolerance.
"""

import argparse
import json
import sys

import torch
from peft import PeftModel
from transformers import LlamaForCausalLM


def load_base(path):
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--candle", required=True)
    ap.add_argument("--adapter", action="append", default=[], help="NAME=DIR")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    with open(args.candle) as f:
        data = json.load(f)
    ids = torch.tensor(data["ids"], dtype=torch.long)
    report = {}
    with torch.no_grad():
        logits = load_base(args.model)(ids).logits
        report["base"] = (logits - torch.tensor(data["logits"]["base"])).abs().max().item()
        for spec in args.adapter:
            name, path = spec.split("=", 1)
            model = PeftModel.from_pretrained(load_base(args.model), path)
            model.eval()
            logits = model(ids).logits
            want = torch.tensor(data["logits"][name])
            report[name] = (logits - want).abs().max().item()
            # The adapter must actually change the model, or the check proves nothing.
            report[name + "_effect"] = (want - torch.tensor(data["logits"]["base"])).abs().max().item()
    print(json.dumps(report, indent=2))
    bad = [k for k, v in report.items() if not k.endswith("_effect") and not v <= args.tol]
    weak = [k for k, v in report.items() if k.endswith("_effect") and not v > 10 * args.tol]
    if bad or weak:
        print(f"FAILED: over tolerance {bad}, adapters without effect {weak}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
