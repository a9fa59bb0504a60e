"""Reference perplexity of SmolLM2-135M (GGUF) on Hamlet I.i with transformers, scored exactly as
trainer/tests/smollm2.rs does (first 1024 predicted tokens, windows of 128 sharing one token).

Usage: smollm2_perplexity.py PATH/TO/SmolLM2-135M-Instruct.Q4_1.gguf PATH/TO/hamlet_gut.txt
Measured 2026-11-25: transformers 51.6259, fairshare-trainer (candle) 51.6257.
"""
import sys, math, torch
from transformers import AutoTokenizer, AutoModelForCausalLM
gguf = sys.argv[1]; hamlet = sys.argv[2]
import os
d, f = os.path.dirname(gguf), os.path.basename(gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
model.eval()
text = open(hamlet).read()
text = text[text.index("[Francisco at his post"):]
ids = tok(text, add_special_tokens=False)["input_ids"][:1025]
print("first ids", ids[:20])
W = 128; tot = 0.0; n = 0; s = 0
with torch.no_grad():
    while s + 1 < len(ids):
        e = min(s + W + 1, len(ids))
        w = torch.tensor([ids[s:e]])
        logits = model(w[:, :-1]).logits[0]
        lp = torch.log_softmax(logits.double(), -1)
        tgt = w[0, 1:]
        tot += -lp[torch.arange(len(tgt)), tgt].sum().item(); n += len(tgt)
        s = e - 1
print("tokens", n, "ppl", math.exp(tot / n))
