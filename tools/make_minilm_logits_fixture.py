#!/usr/bin/env python3
"""Reference for tests/test_bert_minilm.cpp: the real all-MiniLM-L6-v2 (.cache/minilm, from
tools/fetch_minilm.sh) as transformers' BertForSequenceClassification with a fixed 2-label head
(weights from numpy's seed 0, stored in the fixture), on a padded batch of real sentences tokenized by
HF tokenizers: tests/fixtures/minilm/reference.safetensors (tokens, token_types, lengths, head, logits).
    python3 tools/make_minilm_logits_fixture.py   (torch, transformers, safetensors)"""
import os

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, ".cache", "minilm")
OUT = os.path.join(ROOT, "tests", "fixtures", "minilm")
SENTENCES = ["A gorgeous, witty, seductive movie.",
             "The plot is nothing but boilerplate clichés from start to finish.",
             "It's not the worst film of the year, but it's close.",
             "Funny."]


def main():
    tok = transformers.AutoTokenizer.from_pretrained(MODEL)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    model = transformers.BertForSequenceClassification.from_pretrained(MODEL, num_labels=2,
                                                                       attn_implementation="eager").eval()
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((2, 384)) * 0.05).astype(np.float32)
    b = np.array([0.01, -0.02], dtype=np.float32)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(w))
        model.classifier.bias.copy_(torch.from_numpy(b))
        logits = model(**enc).logits.numpy()
    os.makedirs(OUT, exist_ok=True)
    save_file({"tokens": enc["input_ids"].numpy().astype(np.int32),
               "token_types": enc["token_type_ids"].numpy().astype(np.int32),
               "lengths": enc["attention_mask"].sum(1).numpy().astype(np.int32),
               "classifier.weight": w, "classifier.bias": b, "logits": logits.astype(np.float32)},
              os.path.join(OUT, "reference.safetensors"))
    print("wrote", OUT, logits)


if __name__ == "__main__":
    main()
