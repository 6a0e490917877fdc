#!/usr/bin/env python3
"""The peer for bench_train_step: one HF transformers GPT2LMHeadModel training step (forward,
backward, AdamW, clipping) at the same shapes, median step time and tokens/s.
Usage: peer_torch_gpt2.py --device cpu|cuda --batch 4 --seq-len 128 --steps 3 [--bf16]"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="torch.autocast bf16 (mixed precision)")
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).to(a.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, cfg.vocab_size, (a.batch, a.seq_len), device=a.device)
    times = []
    for step in range(a.steps + 1):
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(input_ids=x).logits
            loss = F.cross_entropy(logits.float().view(-1, cfg.vocab_size), x.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if a.device == "cuda":
            torch.cuda.synchronize()
        if step > 0:
            times.append(time.perf_counter() - t0)
    times.sort()
    step_s = times[len(times) // 2]
    out = {"peer": "transformers GPT2LMHeadModel", "torch": torch.__version__, "device": a.device,
           "threads": torch.get_num_threads(), "batch": a.batch, "seq_len": a.seq_len, "bf16": a.bf16,
           "step_s": step_s, "tokens_per_s": a.batch * a.seq_len / step_s}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
