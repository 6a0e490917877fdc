#!/usr/bin/env python3
"""Reference logits for the real SmolLM2-135M-Instruct GGUF: the `gguf` package (llama.cpp's reader)
dequantizes every tensor, llama.cpp's q/k row permutation is undone, and transformers'
LlamaForCausalLM (fp32, eager attention) loaded with those weights scores a fixed token sequence
(transformers' own GGUF loader gives the same logits to 4e-5, checked by hand on 2026-11-24).
Writes tests/fixtures/gguf/smollm2_logits.safetensors (tokens, every 97th logit of every position,
the mean next-token loss). Needs .cache/smollm2 (tools/fetch_smollm2.sh), torch, transformers, gguf.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GGUF = os.path.join(ROOT, ".cache", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf", "smollm2_logits.safetensors")
TOKENS = [504, 3575, 282, 4649, 314, 7042, 30, 378, 3575, 282, 4521, 314]  # "The capital of France is Paris. The capital of Germany is"
STRIDE = 97


def field(r, key):
    return r.fields[key].contents()


def unpermute(w, n_head):
    """Inverse of llama.cpp's convert-time permute of q/k rows (pairs of halves -> interleaved)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(name):
    table = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if name in table:
        return table[name]
    _, layer, rest = name.split(".", 2)
    parts = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
             "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
             "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
             "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
             "ffn_down.weight": "mlp.down_proj.weight"}
    return f"model.layers.{layer}.{parts[rest]}"


def main():
    r = GGUFReader(GGUF)
    n_head = int(field(r, "llama.attention.head_count"))
    n_kv = int(field(r, "llama.attention.head_count_kv"))
    cfg = LlamaConfig(vocab_size=int(field(r, "llama.vocab_size")), hidden_size=int(field(r, "llama.embedding_length")),
                      intermediate_size=int(field(r, "llama.feed_forward_length")),
                      num_hidden_layers=int(field(r, "llama.block_count")), num_attention_heads=n_head,
                      num_key_value_heads=n_kv, max_position_embeddings=int(field(r, "llama.context_length")),
                      rms_norm_eps=float(field(r, "llama.attention.layer_norm_rms_epsilon")),
                      rope_theta=float(field(r, "llama.rope.freq_base")), tie_word_embeddings=True,
                      attn_implementation="eager")
    state = {}
    for t in r.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
        if t.name.endswith("attn_q.weight"):
            w = unpermute(w, n_head)
        elif t.name.endswith("attn_k.weight"):
            w = unpermute(w, n_kv)
        state[hf_name(t.name)] = torch.from_numpy(np.ascontiguousarray(w))
    model = LlamaForCausalLM(cfg).float().eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(m == "lm_head.weight" for m in missing), (missing, unexpected)
    model.tie_weights()
    x = torch.tensor([TOKENS])
    with torch.no_grad():
        logits = model(input_ids=x).logits[0]
    loss = F.cross_entropy(logits[:-1], x[0, 1:])
    save_file({"tokens": x.to(torch.int32), "logits_strided": logits[:, ::STRIDE].contiguous(),
               "loss": loss.reshape(1)}, OUT, metadata={"stride": str(STRIDE)})
    print(f"smollm2 logits fixture: loss {float(loss):.5f}, argmax {logits.argmax(-1).tolist()}")


if __name__ == "__main__":
    main()
