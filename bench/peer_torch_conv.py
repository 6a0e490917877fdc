#!/usr/bin/env python3
"""The peer for `temper bench conv`: PyTorch's convolutions timed on the layers temper timed (forward,
backward-data and backward-filter, each alone), and, for the accuracy cases, torch's and temper's errors
against an fp64 reference computed from the same inputs.

Usage: peer_torch_conv.py REQUEST.json RESULT.json   (both written/read by `temper bench conv --peer`)
Request: {"device": "cuda"|"cpu", "dtype": "bf16"|"fp32", "warmup", "iters",
          "layers": [{"layer", "count", "batch", "h", "w", "c", "k", "r", "s", "stride", "pad", "groups", "p", "q"}],
          "accuracy": [{"layer", "batch", "h", "c", "k", "r", "stride", "pad", "p",
                        "files": {"x", "w", "dy", "y", "dx", "dw": raw f32 path}}]}
Result: {"torch", "cuda", "cudnn", "device_name", "layout", "tf32",
         "timing": [{"layer", "fwd_s", "bwd_data_s", "bwd_filter_s", "error"}],
         "accuracy": [{"layer", "ours": {PASS: ERR}, "torch": {PASS: ERR}, "ours_vs_torch": {PASS: ERR}}]}
with PASS one of fwd, bwd_data, bwd_filter and ERR {"max_rel": max|d| / max|ref|, "max_abs", "rel_rms"}.
A layer torch cannot run (out of memory) gets null times and its error message.

On CUDA the tensors are channels_last (NHWC in memory, as temper's) with torch.backends.cudnn.benchmark
on, so cuDNN picks its fastest algorithm during the warm-up (at least one warm-up call is made); for
fp32 TF32 is switched off (temper's f32 convolution is exact f32). On the CPU it is plain torch: NCHW
contiguous tensors and torch's default CPU convolution. The backward passes are
torch.ops.aten.convolution_backward with one output each (what autograd calls), under no_grad.
Inputs are normal(0, 1) from fixed seeds."""
import math
import sys

import torch
import torch.nn.functional as F

from peer_util import (error_message, finite_or_none, load_f32, median_seconds, read_request, recording_failure,
                       versions, write_result)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PASSES = ("fwd", "bwd_data", "bwd_filter")


def log(msg):
    print(f"peer_torch_conv: {msg}", file=sys.stderr, flush=True)


def geometry(L):
    """stride, padding, dilation, groups as convolution_backward wants them."""
    return [L["stride"]] * 2, [L["pad"]] * 2, [1, 1], L.get("groups", 1)


def run_pass(name, x, w, dy, L):
    stride, pad, dil, groups = geometry(L)
    if name == "fwd":
        return F.conv2d(x, w, None, stride, pad, dil, groups)
    mask = [name == "bwd_data", name == "bwd_filter", False]
    out = torch.ops.aten.convolution_backward(dy, x, w, None, stride, pad, dil, False, [0, 0], groups, mask)
    return out[0] if name == "bwd_data" else out[1]


def memory_format(device):
    return torch.channels_last if device == "cuda" else torch.contiguous_format


def random_operands(L, dtype, device, seed):
    """x [N,C,H,W], w [K,C/groups,R,S], dy [N,K,P,Q]: normal(0, 1), in the device's memory format."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    fmt = memory_format(device)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype).contiguous(memory_format=fmt)

    groups = L.get("groups", 1)
    return (rand(L["batch"], L["c"], L["h"], L["w"]), rand(L["k"], L["c"] // groups, L["r"], L["s"]),
            rand(L["batch"], L["k"], L["p"], L["q"]))


def time_layer(L, req, seed):
    result = {"layer": L["layer"], "fwd_s": None, "bwd_data_s": None, "bwd_filter_s": None, "error": None}
    cuda = req["device"] == "cuda"
    warmup = max(1, req["warmup"]) if cuda else req["warmup"]  # cudnn.benchmark tunes on the first call
    with recording_failure(result, cuda), torch.no_grad():
        x, w, dy = random_operands(L, DTYPES[req["dtype"]], req["device"], seed)
        y = run_pass("fwd", x, w, dy, L)
        if tuple(y.shape) != tuple(dy.shape):
            raise ValueError(f"torch's output {tuple(y.shape)} is not the requested {tuple(dy.shape)}")
        del y
        for name in PASSES:
            result[name + "_s"] = median_seconds(lambda: run_pass(name, x, w, dy, L), warmup, req["iters"], cuda)
    return result


def run_timing(req):
    rows = []
    for i, L in enumerate(req["layers"]):
        log(f"timing [{i + 1}/{len(req['layers'])}] {L['layer']} N={L['batch']} H={L['h']} C={L['c']} K={L['k']}")
        rows.append(time_layer(L, req, seed=1 + i))
    return rows


# ---- accuracy ------------------------------------------------------------------------------------


def load_nchw(path, shape_nhwc):
    """A raw f32 file of temper's [N,H,W,C] (or [K,R,S,C]) as an NCHW (KCRS) view."""
    return load_f32(path, shape_nhwc).permute(0, 3, 1, 2)


def case_tensors(c):
    n, h, p, ch, k, r = c["batch"], c["h"], c["p"], c["c"], c["k"], c["r"]
    shapes = {"x": (n, h, h, ch), "w": (k, r, r, ch // c.get("groups", 1)), "dy": (n, p, p, k),
              "y": (n, p, p, k), "dx": (n, h, h, ch), "dw": (k, r, r, ch // c.get("groups", 1))}
    return {name: load_nchw(path, shapes[name]) for name, path in c["files"].items()}


def three_passes(x, w, dy, L, dtype, device):
    """y, dx, dw from inputs converted to dtype on device (channels_last on CUDA), back as CPU float64."""
    fmt = memory_format(device)
    x, w, dy = (t.to(device=device, dtype=dtype).contiguous(memory_format=fmt) for t in (x, w, dy))
    with torch.no_grad():
        return {name: run_pass(name, x, w, dy, L).double().cpu() for name in PASSES}


def error_of(got, ref):
    """max |got - ref| / max |ref|, max |got - ref| and the relative RMS error (as temper computes them)."""
    d = got.double().flatten() - ref.double().flatten()
    r = ref.double().flatten()
    max_abs = float(d.abs().max())
    return {"max_rel": finite_or_none(max_abs / max(float(r.abs().max()), 1e-30)),
            "max_abs": finite_or_none(max_abs),
            "rel_rms": finite_or_none(math.sqrt(float((d * d).sum()) / max(float((r * r).sum()), 1e-30)))}


def run_accuracy(req):
    rows = []
    dtype = DTYPES[req["dtype"]]
    for i, c in enumerate(req["accuracy"]):
        log(f"accuracy [{i + 1}/{len(req['accuracy'])}] {c['layer']}")
        t = case_tensors(c)
        L = dict(c, w=c["h"], s=c["r"], q=c["p"])
        ref = three_passes(t["x"], t["w"], t["dy"], L, torch.float64, req["device"])
        mine = {"fwd": t["y"], "bwd_data": t["dx"], "bwd_filter": t["dw"]}
        row = {"layer": c["layer"], "ours": {n: error_of(mine[n], ref[n]) for n in PASSES}}
        try:
            theirs = three_passes(t["x"], t["w"], t["dy"], L, dtype, req["device"])
            row["torch"] = {n: error_of(theirs[n], ref[n]) for n in PASSES}
            row["ours_vs_torch"] = {n: error_of(mine[n], theirs[n]) for n in PASSES}
        except Exception as e:
            row["torch"], row["ours_vs_torch"], row["error"] = None, None, error_message(e)
        rows.append(row)
    return rows


def main():
    req, result_path = read_request("peer_torch_conv", "conv", __doc__)
    cuda = req["device"] == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False  # fp32 like temper's; no effect on bf16
    result = {
        "peer": "torch.nn.functional.conv2d + torch.ops.aten.convolution_backward",
        **versions(req["device"]),
        "layout": "channels_last, cudnn.benchmark" if cuda else "NCHW, torch CPU default",
        "tf32": False if cuda else None,
        "threads": torch.get_num_threads(),
        "timing": run_timing(req),
        "accuracy": run_accuracy(req) if req.get("accuracy") else [],
    }
    write_result(result_path, result)


if __name__ == "__main__":
    main()
