#!/usr/bin/env python3
"""The peer for `temper bench attention`: PyTorch's scaled_dot_product_attention, one backend at a
time (cuDNN, FlashAttention-2, memory-efficient, math), timed on the configs temper timed; and, for
the accuracy cases, SDPA's and temper's errors against an fp64 reference computed from the same inputs.

Usage: peer_torch_sdpa.py REQUEST.json RESULT.json   (both written/read by `temper bench attention --peer`)
Request: {"device": "cuda"|"cpu", "dtype": "bf16"|"fp16"|"fp32", "warmup", "iters", "directions": ["fwd","bwd"],
          "configs": [{"batch", "seq", "heads", "kv_heads", "head_dim", "causal"}],
          "accuracy": [{... as configs, "files": {"q","k","v","dout","out","lse","dq","dk","dv": raw f32 path}}]}
Result: {"torch", "device_name", "timing": [{"backends": {NAME: {"fwd_s", "bwd_s", "gqa", "error"}}}],
         "accuracy": [{"ours": {TENSOR: {"max_abs", "rel_rms"}}, "sdpa": {NAME: {TENSOR: {...}} or null},
                       "gqa": {NAME: mode}, "errors": {NAME: message}}]}
A backend that cannot run a config (unsupported, out of memory) gets null times and its error message.

Operands are laid out like temper's, [B, T, heads, head_dim], and passed to SDPA as transposed views
[B, heads, T, head_dim] (what a model's attention does). The forward is timed with inputs that require
grad (a training forward, which also keeps the log-sum-exp); the backward is timed alone, as
torch.autograd.grad on one saved forward. Grouped-query heads use enable_gqa=True, or, where a backend
refuses that, repeat_interleave of k and v (its cost then counted in the time; "gqa" says which)."""
import math
import sys
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from peer_util import (error_message, finite_or_none, load_f32, median_seconds, read_request, recording_failure,
                       versions, write_result)

BACKENDS = {
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MATH_MEMORY_FRACTION = 0.5  # skip the math backend when its score matrices would take more of the free memory


def log(msg):
    print(f"peer_torch_sdpa: {msg}", file=sys.stderr, flush=True)


def attend(q, k, v, causal, gqa):
    """q [B,T,NH,E], k/v [B,T,NKV,E] -> out [B,T,NH,E]; gqa: None (NH == NKV), "native" or "repeat_interleave"."""
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    if gqa == "native":
        out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, enable_gqa=True)
    elif gqa == "repeat_interleave":
        rep = q.shape[2] // k.shape[2]
        kt, vt = kt.repeat_interleave(rep, dim=1), vt.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
    else:
        out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
    return out.transpose(1, 2)


def gqa_modes(cfg):
    return [None] if cfg["heads"] == cfg["kv_heads"] else ["native", "repeat_interleave"]


def first_working_mode(backend, cfg, q, k, v):
    """The first GQA mode this backend runs (forward and backward), or raises the last error."""
    error = None
    for mode in gqa_modes(cfg):
        try:
            with sdpa_kernel(BACKENDS[backend]):
                out = attend(q, k, v, cfg["causal"], mode)
                torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
            return mode
        except Exception as e:  # "No available kernel", enable_gqa unsupported, out of memory
            error = e
    raise error


def random_inputs(cfg, dtype, device, seed):
    """q, k, v (requiring grad) and dout, normal(0, 1), laid out [B, T, heads, head_dim]."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    b, t, e = cfg["batch"], cfg["seq"], cfg["head_dim"]

    def rand(h, grad):
        x = torch.randn(b, t, h, e, generator=g).to(device=device, dtype=dtype)
        return x.requires_grad_(grad)

    return rand(cfg["heads"], True), rand(cfg["kv_heads"], True), rand(cfg["kv_heads"], True), rand(cfg["heads"], False)


def math_too_large(cfg, device):
    if device != "cuda":
        return None
    scores = cfg["batch"] * cfg["heads"] * cfg["seq"] * cfg["seq"]
    need = 16 * scores  # scores, probabilities and their gradients, up to f32
    free, _ = torch.cuda.mem_get_info()
    if need > MATH_MEMORY_FRACTION * free:
        return f"skipped: the math backend would materialize {need / 2**30:.1f} GiB of scores ({free / 2**30:.1f} free)"
    return None


def time_backend(backend, cfg, req, inputs):
    result = {"fwd_s": None, "bwd_s": None, "gqa": None, "error": None}
    if backend == "math":
        result["error"] = math_too_large(cfg, req["device"])
        if result["error"]:
            return result
    q, k, v, dout = inputs
    cuda = req["device"] == "cuda"
    with recording_failure(result, cuda):
        mode = first_working_mode(backend, cfg, q, k, v)
        result["gqa"] = mode
        with sdpa_kernel(BACKENDS[backend]):
            if "fwd" in req["directions"]:
                result["fwd_s"] = median_seconds(lambda: attend(q, k, v, cfg["causal"], mode), req["warmup"],
                                                 req["iters"], cuda)
            if "bwd" in req["directions"]:
                out = attend(q, k, v, cfg["causal"], mode)
                result["bwd_s"] = median_seconds(
                    lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True), req["warmup"],
                    req["iters"], cuda)
    return result


def run_timing(req):
    dtype = DTYPES[req["dtype"]]
    rows = []
    for i, cfg in enumerate(req["configs"]):
        log(f"timing [{i + 1}/{len(req['configs'])}] {cfg}")
        inputs = random_inputs(cfg, dtype, req["device"], seed=1 + i)
        backends = {name: time_backend(name, cfg, req, inputs) for name in BACKENDS}
        rows.append({"config": cfg, "backends": backends})
        del inputs
    return rows


# ---- accuracy ------------------------------------------------------------------------------------


def case_shapes(c):
    b, t, e = c["batch"], c["seq"], c["head_dim"]
    q = (b, t, c["heads"], e)
    kv = (b, t, c["kv_heads"], e)
    return {"q": q, "k": kv, "v": kv, "dout": q, "out": q, "dq": q, "dk": kv, "dv": kv,
            "lse": (b, c["heads"], t)}


def reference_fp64(x, causal):
    """out, lse [B,NH,T] and gradients in float64 on the CPU, by the definition (no SDPA)."""
    q, k, v = (x[n].double().requires_grad_(True) for n in ("q", "k", "v"))
    rep = q.shape[2] // k.shape[2]
    kr, vr = k.repeat_interleave(rep, dim=2), v.repeat_interleave(rep, dim=2)
    s = torch.einsum("bihe,bjhe->bhij", q, kr) / math.sqrt(q.shape[3])
    if causal:
        t = q.shape[1]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    out = torch.einsum("bhij,bjhe->bihe", torch.exp(s - lse[..., None]), vr)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), x["dout"].double())
    return {"out": out.detach(), "lse": lse.detach(), "dq": dq, "dk": dk, "dv": dv}


def error_of(got, ref):
    """max |got - ref| and the relative RMS error; equal entries (both +inf) count as exact."""
    got, ref = got.detach().double().cpu().flatten(), ref.double().cpu().flatten()
    d = torch.where(got == ref, torch.zeros_like(ref), got - ref)
    r = torch.where(torch.isfinite(ref), ref, torch.zeros_like(ref))
    rel = math.sqrt(float((d * d).sum()) / max(float((r * r).sum()), 1e-30))
    return {"max_abs": finite_or_none(float(d.abs().max())), "rel_rms": finite_or_none(rel)}


def sdpa_case(backend, c, x, ref, dtype, device):
    """SDPA's errors (out, dq, dk, dv) in dtype with one backend, and the GQA mode it used."""
    q, k, v = (x[n].to(device=device, dtype=dtype).requires_grad_(True) for n in ("q", "k", "v"))
    dout = x["dout"].to(device=device, dtype=dtype)
    mode = first_working_mode(backend, c, q, k, v)
    with sdpa_kernel(BACKENDS[backend]):
        out = attend(q, k, v, c["causal"], mode)
        dq, dk, dv = torch.autograd.grad(out, (q, k, v), dout)
    got = {"out": out, "dq": dq, "dk": dk, "dv": dv}
    return {n: error_of(got[n], ref[n]) for n in got}, mode


def run_accuracy(req):
    dtype = DTYPES[req["dtype"]]
    rows = []
    for i, c in enumerate(req["accuracy"]):
        log(f"accuracy [{i + 1}/{len(req['accuracy'])}] {dict((k, c[k]) for k in c if k != 'files')}")
        shapes = case_shapes(c)
        x = {n: load_f32(p, shapes[n]) for n, p in c["files"].items()}
        ref = reference_fp64(x, c["causal"])
        row = {"ours": {n: error_of(x[n], ref[n]) for n in ("out", "lse", "dq", "dk", "dv")},
               "sdpa": {}, "gqa": {}, "errors": {}}
        for name in BACKENDS:
            try:
                row["sdpa"][name], row["gqa"][name] = sdpa_case(name, c, x, ref, dtype, req["device"])
            except Exception as e:
                row["sdpa"][name] = None
                row["errors"][name] = error_message(e)
        rows.append(row)
    return rows


def main():
    req, result_path = read_request("peer_torch_sdpa", "attention", __doc__)
    warnings.filterwarnings("ignore")  # SDPA warns on every refused backend; the refusal is recorded instead
    result = {
        "peer": "torch.nn.functional.scaled_dot_product_attention",
        **versions(req["device"]),
        "timing": run_timing(req),
        "accuracy": run_accuracy(req) if req.get("accuracy") else [],
    }
    write_result(result_path, result)


if __name__ == "__main__":
    main()
