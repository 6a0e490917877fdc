#!/usr/bin/env python3
"""The peer for tools/gpu_memory_table.sh: HF transformers (+ PEFT for LoRA) training steps on a
randomly initialised Llama of the same config, batch and sequence length; peak CUDA memory
(torch.cuda.max_memory_allocated) and median tokens/s. Full fine-tuning = fp32 weights under bf16
autocast (fp32 master weights, like temper); LoRA = bf16 base + PEFT adapters (fp32) on all seven
projections; --recompute = gradient checkpointing. No QLoRA peer: bitsandbytes is not installed on
the GPU machine.
Usage: peer_peft_llama.py CONFIG --mode full|lora [--r 16] --batch 4 --seq-len 512 --steps 10 [--recompute]"""
import argparse
import json
import pathlib
import time

import torch
import torch.nn.functional as F
import transformers

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(a):
    torch.manual_seed(0)
    cfg = transformers.AutoConfig.for_model(**json.loads(pathlib.Path(a.config).read_text()))
    cfg.use_cache = False
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    if a.mode == "lora":
        import peft
        model = model.to(torch.bfloat16)
        model = peft.get_peft_model(model, peft.LoraConfig(r=a.r, lora_alpha=2 * a.r, target_modules=TARGETS))
    if a.recompute:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if a.mode == "lora":
            model.enable_input_require_grads()
    return cfg, model.cuda().train()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--mode", choices=["full", "lora"], default="full")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--recompute", action="store_true")
    a = ap.parse_args()
    cfg, model = build(a)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randint(0, cfg.vocab_size, (a.batch, a.seq_len), device="cuda")
    times = []
    for step in range(a.steps + 2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x).logits
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, cfg.vocab_size), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    step_s = times[len(times) // 2]
    print(json.dumps({"peer": "transformers" + (" + peft" if a.mode == "lora" else ""), "torch": torch.__version__,
                      "config": pathlib.Path(a.config).stem, "mode": a.mode, "recompute": a.recompute,
                      "batch": a.batch, "seq_len": a.seq_len, "step_s": step_s,
                      "tokens_per_s": a.batch * a.seq_len / step_s,
                      "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20}))


if __name__ == "__main__":
    main()
