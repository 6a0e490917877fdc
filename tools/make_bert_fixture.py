#!/usr/bin/env python3
"""A small random BertForSequenceClassification written by transformers (odd sizes: hidden 36, 3 heads
of 12, intermediate 52, vocab 97, 3 labels) and its reference outputs for tests/test_bert_hf.cpp:
a padded batch (lengths 9, 5, 1), token types, labels -> logits, loss and every parameter's gradient
(eager attention, no dropout), with HF's [CLS] pooler and with mean pooling. Writes tests/fixtures/bert_cls/{config.json, model.safetensors,
reference.safetensors}.   python3 tools/make_bert_fixture.py   (torch, transformers, safetensors)"""
import os

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "bert_cls")


def main():
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=97, hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
                                  intermediate_size=52, max_position_embeddings=40, type_vocab_size=2,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3,
                                  id2label={0: "negative", 1: "neutral", 2: "positive"},
                                  label2id={"negative": 0, "neutral": 1, "positive": 2},
                                  attn_implementation="eager")
    model = transformers.BertForSequenceClassification(cfg).eval()
    with torch.no_grad():  # LayerNorms start at 1/0 and biases at 0: make every tensor count
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    lengths = [9, 5, 1]
    b, t = len(lengths), max(lengths)
    tokens = torch.randint(1, cfg.vocab_size, (b, t))
    mask = torch.zeros(b, t, dtype=torch.int64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    tokens = tokens * mask  # pad id 0
    types = torch.zeros(b, t, dtype=torch.int64)
    types[0, 5:9] = 1
    labels = torch.tensor([2, 0, 1])
    out = model(input_ids=tokens, token_type_ids=types, attention_mask=mask, labels=labels)
    out.loss.backward()
    ref = {"tokens": tokens.numpy().astype(np.int32), "token_types": types.numpy().astype(np.int32),
           "lengths": np.array(lengths, dtype=np.int32), "labels": labels.numpy().astype(np.int32),
           "logits": out.logits.detach().numpy(), "loss": np.array([out.loss.item()], dtype=np.float32)}
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad.numpy()
    # Class weights (torch's CrossEntropyLoss(weight=...), mean over the weights), [CLS] pooling.
    model.zero_grad()
    logits = model(input_ids=tokens, token_type_ids=types, attention_mask=mask).logits
    weights = torch.tensor([0.5, 2.0, 1.25])
    loss = torch.nn.functional.cross_entropy(logits, labels, weight=weights)
    loss.backward()
    ref["weighted.class_weights"] = weights.numpy()
    ref["weighted.loss"] = np.array([loss.item()], dtype=np.float32)
    for name, p in model.named_parameters():
        ref["weighted.grad." + name] = p.grad.numpy()
    # Mean pooling (sentence-transformers' pooling, temper's --pooling mean): the classifier on the
    # mean of the last hidden states over the real tokens; the pooler gets no gradient.
    model.zero_grad()
    hidden = model.bert(input_ids=tokens, token_type_ids=types, attention_mask=mask).last_hidden_state
    pooled = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
    logits = model.classifier(pooled)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    ref["mean.logits"] = logits.detach().numpy()
    ref["mean.loss"] = np.array([loss.item()], dtype=np.float32)
    for name, p in model.named_parameters():
        ref["mean.grad." + name] = p.grad.numpy() if p.grad is not None else np.zeros(p.shape, dtype=np.float32)
    save_file(ref, os.path.join(OUT, "reference.safetensors"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
