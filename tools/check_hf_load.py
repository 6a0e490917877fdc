#!/usr/bin/env python3
"""Checks that a temper output directory loads in Hugging Face transformers unchanged and gives the
same validation loss: python3 tools/check_hf_load.py OUT_DIR VALID_FILE SEQ_LEN TEMPER_LOSS
(windows as temper packs them: blocks of SEQ_LEN+1 tokens with stride SEQ_LEN, tail dropped)."""
import sys

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    out, valid, seq, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    model = AutoModelForCausalLM.from_pretrained(out).float().eval()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok(open(valid, encoding="utf-8").read())["input_ids"]
    eos = tok.eos_token_id  # temper ends every document with the tokenizer's end-of-text id
    if eos is None:
        eos = tok.convert_tokens_to_ids("<|endoftext|>")
    if eos is not None and eos >= 0:
        ids = ids + [eos]
    n = (len(ids) - 1) // seq
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(n):
            w = torch.tensor(ids[i * seq:i * seq + seq + 1])
            logits = model(input_ids=w[:-1].unsqueeze(0)).logits[0]
            total += float(F.cross_entropy(logits, w[1:], reduction="sum"))
            count += seq
    loss = total / count
    print(f"transformers loss {loss:.6f}, temper loss {want:.6f}, diff {abs(loss - want):.2e}")
    sys.exit(0 if abs(loss - want) < 1e-4 * max(1.0, abs(want)) else 1)


if __name__ == "__main__":
    main()
