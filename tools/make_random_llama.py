#!/usr/bin/env python3
"""Writes a randomly initialised Hugging Face Llama-family model (transformers' own initialisation)
from a config.json, for benchmarks on machines that cannot fetch the real checkpoint (the lent GPU
machine): same shapes, so the same memory and speed. Tokenizer files named with --tokenizer-from
are copied next to it.

    python3 tools/make_random_llama.py bench/configs/smollm2-135m.json /tmp/smollm2-random \
        --tokenizer-from runs/main_job
"""
import argparse
import json
import pathlib
import shutil

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("out")
    ap.add_argument("--tokenizer-from", help="directory holding tokenizer.json (+ tokenizer_config.json)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    cfg = transformers.AutoConfig.for_model(**json.loads(pathlib.Path(args.config).read_text()))
    model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
    model.save_pretrained(args.out, safe_serialization=True)
    if args.tokenizer_from:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            src = pathlib.Path(args.tokenizer_from) / name
            if src.exists():
                shutil.copy(src, pathlib.Path(args.out) / name)
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
