#!/usr/bin/env python3
"""Builds the model reference fixtures with Hugging Face transformers (the peer we must match).

For each small random config (GPT-2; Llama and Qwen2 with grouped-query attention): save_pretrained()
into tests/fixtures/<name>/, then record for a fixed batch the logits, the mean loss over non-ignored
targets and every parameter's gradient (reference.safetensors), and the losses of a few AdamW steps
with gradient clipping (reference.json).
Run: python3 tools/make_fixtures.py [NAME ...]  (all when no name; needs torch, transformers,
safetensors; never needed by CI).
"""
import sys
import json
import os
import shutil

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
IGNORE = -100

CONFIGS = {
    # Odd sizes on purpose: n_embd not a multiple of 64, head size 12, vocab not a multiple of 8.
    "gpt2_odd": dict(n_layer=2, n_head=3, n_embd=36, n_positions=48, vocab_size=1003, batch=2, seq=16, seed=1),
    "gpt2_tiny": dict(n_layer=3, n_head=4, n_embd=64, n_positions=32, vocab_size=97, batch=3, seq=9, seed=2),
}
# Llama family: GQA ratio 3 (6 query heads, 2 kv heads), hidden 60 (head dim 10, not a power of two),
# odd vocab; one with llama3 rope scaling and untied embeddings, Qwen2 with q/k/v bias and tied ones.
# transformers 5 writes rope_theta and rope_scaling as "rope_parameters" in config.json.
LLAMA_CONFIGS = {
    "llama_gqa": dict(cls=(LlamaConfig, LlamaForCausalLM), batch=2, seq=12, seed=5, kw=dict(
        hidden_size=60, num_attention_heads=6, num_key_value_heads=2, intermediate_size=100,
        num_hidden_layers=2, vocab_size=1001, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16}, tie_word_embeddings=False)),
    "qwen2_gqa": dict(cls=(Qwen2Config, Qwen2ForCausalLM), batch=2, seq=11, seed=6, kw=dict(
        hidden_size=60, num_attention_heads=6, num_key_value_heads=2, intermediate_size=90,
        num_hidden_layers=2, vocab_size=997, max_position_embeddings=64, rms_norm_eps=1e-6,
        rope_theta=1000000.0, tie_word_embeddings=True)),
}
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
CLIP = 1.0
STEPS = 4


def make_model(spec):
    torch.manual_seed(spec["seed"])
    cfg = GPT2Config(n_layer=spec["n_layer"], n_head=spec["n_head"], n_embd=spec["n_embd"],
                     n_positions=spec["n_positions"], vocab_size=spec["vocab_size"], resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=spec["vocab_size"] - 1,
                     eos_token_id=spec["vocab_size"] - 1)
    model = GPT2LMHeadModel(cfg).float()
    with torch.no_grad():  # non-trivial LayerNorm parameters so their gradients are exercised
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.02)
    model.eval()  # no dropout; gradients still flow
    return model


def make_llama_family_model(spec):
    torch.manual_seed(spec["seed"])
    cfg_cls, model_cls = spec["cls"]
    model = model_cls(cfg_cls(**spec["kw"], attn_implementation="eager")).float()
    with torch.no_grad():  # non-trivial norm weights and biases so their gradients are exercised
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.02)
    model.eval()
    return model


def make_batch(spec):
    g = torch.Generator().manual_seed(100 + spec["seed"])
    b, t, v = spec["batch"], spec["seq"], spec["vocab_size"]
    tokens = torch.randint(0, v, (b, t), generator=g, dtype=torch.int64)
    targets = torch.randint(0, v, (b, t), generator=g, dtype=torch.int64)
    targets[0, 0] = IGNORE  # masked targets, as prompt tokens are
    targets[-1, t // 2] = IGNORE
    return tokens, targets


def loss_of(model, tokens, targets):
    logits = model(input_ids=tokens).logits
    return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def adamw_losses(model, tokens, targets):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"])
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        _, loss = loss_of(model, tokens, targets)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        opt.step()
        losses.append(float(loss))
    _, final = loss_of(model, tokens, targets)
    return losses + [float(final)], norms


def build(name, spec, factory=None):
    out = os.path.join(FIXTURES, name)
    shutil.rmtree(out, ignore_errors=True)
    if "vocab_size" not in spec:
        spec = dict(spec, vocab_size=spec["kw"]["vocab_size"])
    model = (factory or make_model)(spec)
    model.save_pretrained(out, safe_serialization=True)
    tokens, targets = make_batch(spec)
    model.zero_grad()
    logits, loss = loss_of(model, tokens, targets)
    loss.backward()
    ref = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32),
           "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    for pname, p in model.named_parameters():
        ref["grad." + pname] = p.grad.detach().contiguous()
    save_file(ref, os.path.join(out, "reference.safetensors"))
    losses, norms = adamw_losses(model, tokens, targets)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"ignore_index": IGNORE, "adamw": ADAMW, "clip": CLIP, "adamw_losses": losses,
                   "grad_norms": norms}, f, indent=1)
    print(f"{name}: loss {float(loss):.6f}, adamw losses {losses}")


FORTUNES = "/usr/share/games/fortunes"
DEMO_PRETRAIN = ["cookie", "computers", "definitions", "people", "science", "wisdom"]


def fortune_text(names):
    parts = []
    for n in names:
        with open(os.path.join(FORTUNES, n), encoding="utf-8", errors="replace") as f:
            parts.append(f.read().replace("\n%\n", "\n\n"))
    return "\n".join(parts)


def build_demo(steps=400, seq=64, batch=16):
    """A small GPT-2 'pre-trained' by transformers on fortune-cookie text (Debian `fortunes`), with
    its own byte-level BPE tokenizer: the checkpoint the README's main job fine-tunes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    out = os.path.join(FIXTURES, "gpt2_demo")
    shutil.rmtree(out, ignore_errors=True)
    text = fortune_text(DEMO_PRETRAIN)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer)
    ids = torch.tensor(tok.encode(text).ids, dtype=torch.int64)
    vocab = tok.get_vocab_size()
    eos = tok.token_to_id("<|endoftext|>")
    torch.manual_seed(3)
    cfg = GPT2Config(n_layer=2, n_head=4, n_embd=64, n_positions=128, vocab_size=vocab, bos_token_id=eos,
                     eos_token_id=eos, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(4)
    for step in range(steps):
        starts = torch.randint(0, len(ids) - seq - 1, (batch,), generator=g)
        x = torch.stack([ids[s:s + seq] for s in starts])
        y = torch.stack([ids[s + 1:s + seq + 1] for s in starts])
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"demo pretrain step {step}: loss {float(loss):.3f}")
    model.save_pretrained(out, safe_serialization=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    print(f"gpt2_demo: vocab {vocab}, {sum(p.numel() for p in model.parameters())} parameters")


def main():
    wanted = set(sys.argv[1:])
    for name, spec in CONFIGS.items():
        if not wanted or name in wanted:
            build(name, spec)
    for name, spec in LLAMA_CONFIGS.items():
        if not wanted or name in wanted:
            build(name, spec, make_llama_family_model)
    if os.path.isdir(FORTUNES) and (not wanted or "gpt2_demo" in wanted):
        build_demo()


if __name__ == "__main__":
    main()
