#!/usr/bin/env python3
"""Builds tests/fixtures/llama_ops/: the Llama-family ops computed by Hugging Face transformers.

Inputs, outputs and autograd gradients (fp32) of LlamaRMSNorm, apply_rotary_pos_emb (cos/sin from
LlamaRotaryEmbedding for rope_theta 10000 with no scaling, 'linear' and 'llama3' rope_scaling; the
inv_freq tables are exported so the C++ side builds its own cos/sin), SiLU(gate) * up (LlamaMLP's
act) and eager grouped-query attention (eager_attention_forward with repeat_kv, causal mask).
Tensors use temper's layouts: rope inputs [B,T,H,HS], attention q/k/v [B,T,heads*HS].
Scalars go to meta.json (safetensors metadata order is not stable between runs). Run: python3 tools/make_llama_ops_fixture.py
(needs torch, transformers, safetensors; never needed by CI). tests/test_llama_ops_hf.cpp reads it.
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig
from transformers.activations import ACT2FN
from transformers.models.llama.modeling_llama import (LlamaRMSNorm, LlamaRotaryEmbedding, apply_rotary_pos_emb,
                                                      eager_attention_forward)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "llama_ops")

THETA = 10000.0
ROPE_KINDS = {
    "default": None,
    "linear": {"rope_type": "linear", "factor": 2.0},
    # original_max 512 with head size 10 puts the 5 frequencies in all three llama3 bands.
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 512},
}
FAR_POSITIONS = [1000, 4097, 8191]  # angle rounding at long positions
ATTENTION = {  # name: (B, T, NH, NKV, HS)
    "gqa": (2, 4, 6, 2, 4),
    "mqa": (1, 6, 3, 1, 6),
}

gen = torch.Generator().manual_seed(4)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).requires_grad_(True)


def rmsnorm(t, meta):
    x, eps = randn(2, 3, 7), 1e-5
    norm = LlamaRMSNorm(7, eps=eps)
    with torch.no_grad():
        norm.weight.copy_(1.0 + 0.3 * torch.randn(7, generator=gen))
    out = norm(x)
    dout = torch.randn(out.shape, generator=gen)
    out.backward(dout)
    t.update({"rmsnorm.x": x, "rmsnorm.weight": norm.weight, "rmsnorm.out": out, "rmsnorm.dout": dout,
              "rmsnorm.dx": x.grad, "rmsnorm.dweight": norm.weight.grad})
    meta["rmsnorm.eps"] = eps


def rope_config(head_dim, scaling):
    kw = dict(hidden_size=2 * head_dim, num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
              max_position_embeddings=8192)
    params = {"rope_type": "default", "rope_theta": THETA}
    if scaling:
        params.update(scaling)
    return LlamaConfig(rope_parameters=params, **kw)


def rope(t, meta):
    b, seq, nh, nkv, hs = 1, 7, 2, 1, 10
    q_in, k_in = torch.randn(b, seq, nh, hs, generator=gen), torch.randn(b, seq, nkv, hs, generator=gen)
    dq_out, dk_out = torch.randn(b, seq, nh, hs, generator=gen), torch.randn(b, seq, nkv, hs, generator=gen)
    t.update({"rope.q": q_in, "rope.k": k_in, "rope.dq_out": dq_out, "rope.dk_out": dk_out})
    meta["rope.theta"] = THETA
    for kind, scaling in ROPE_KINDS.items():
        for key, value in (scaling or {}).items():
            if key != "rope_type":
                meta[f"rope.{kind}.{key}"] = value
        emb = LlamaRotaryEmbedding(rope_config(hs, scaling))
        assert emb.attention_scaling == 1.0
        t[f"rope.{kind}.inv_freq"] = emb.inv_freq
        t[f"rope.{kind}.inv_freq64"] = LlamaRotaryEmbedding(rope_config(64, scaling)).inv_freq
        cos, sin = emb(q_in, torch.arange(seq)[None])  # [1, T, HS]
        far_cos, far_sin = emb(q_in, torch.tensor([FAR_POSITIONS]))
        t.update({f"rope.{kind}.cos": cos[0], f"rope.{kind}.sin": sin[0], f"rope.{kind}.cos_far": far_cos[0],
                  f"rope.{kind}.sin_far": far_sin[0]})
        q, k = q_in.clone().requires_grad_(True), k_in.clone().requires_grad_(True)
        q_out, k_out = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)  # [B,T,H,HS] layout
        (q_out * dq_out).sum().add((k_out * dk_out).sum()).backward()
        t.update({f"rope.{kind}.q_out": q_out, f"rope.{kind}.k_out": k_out, f"rope.{kind}.dq": q.grad,
                  f"rope.{kind}.dk": k.grad})
    meta["rope.far_positions"] = FAR_POSITIONS


def swiglu(t):
    gate, up = randn(3, 11, scale=3.0), randn(3, 11)
    out = ACT2FN["silu"](gate) * up
    dout = torch.randn(out.shape, generator=gen)
    out.backward(dout)
    t.update({"swiglu.gate": gate, "swiglu.up": up, "swiglu.out": out, "swiglu.dout": dout,
              "swiglu.dgate": gate.grad, "swiglu.dup": up.grad})


class EagerModule(torch.nn.Module):  # what eager_attention_forward reads from the attention module
    def __init__(self, groups):
        super().__init__()
        self.num_key_value_groups = groups


def attention(t, meta, name, b, seq, nh, nkv, hs):
    q, k, v = randn(b, seq, nh * hs), randn(b, seq, nkv * hs), randn(b, seq, nkv * hs)
    heads = lambda x, n: x.view(b, seq, n, hs).transpose(1, 2)  # noqa: E731  [B,T,n*HS] -> [B,n,T,HS]
    mask = torch.full((seq, seq), torch.finfo(torch.float32).min).triu(1)[None, None]
    module = EagerModule(nh // nkv).eval()
    out, att = eager_attention_forward(module, heads(q, nh), heads(k, nkv), heads(v, nkv), mask, hs ** -0.5)
    out = out.reshape(b, seq, nh * hs)  # already [B,T,NH,HS]
    dout = torch.randn(out.shape, generator=gen)
    out.backward(dout)
    p = f"attn.{name}."
    t.update({p + "q": q, p + "k": k, p + "v": v, p + "out": out, p + "att": att, p + "dout": dout, p + "dq": q.grad,
              p + "dk": k.grad, p + "dv": v.grad})
    meta[p + "n_head"], meta[p + "n_kv_head"] = nh, nkv


def main():
    tensors, meta = {}, {}
    rmsnorm(tensors, meta)
    rope(tensors, meta)
    swiglu(tensors)
    for name, dims in ATTENTION.items():
        attention(tensors, meta, name, *dims)
    os.makedirs(OUT, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in tensors.items()}
    path = os.path.join(OUT, "llama_ops.safetensors")
    save_file(tensors, path)
    os.chmod(path, 0o644)
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(tensors)} tensors to {OUT}")


if __name__ == "__main__":
    main()
