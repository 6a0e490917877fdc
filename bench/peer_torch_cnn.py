#!/usr/bin/env python3
"""PyTorch peer of `temper bench cnn`: the same CNN training step in PyTorch, as users run it fast.

torchvision's ResNet (or efficientnet_lite_pytorch's EfficientNet-Lite0 when installed), random
initialisation, 1000 classes, the request's batch of synthetic normalised images and labels; one step =
zero_grad, forward, cross-entropy, backward, gradient-norm clipping at 1, AdamW (temper's step). On CUDA: channels_last memory format, bf16 autocast
(the request's dtype; fp32 when it says so), cudnn.benchmark; on the CPU: fp32, contiguous NCHW.
Timed like temper (bench/peer_util.py: the upper median of back-to-back steps after warm-up).

Usage (run by temper): peer_torch_cnn.py REQUEST.json RESULT.json
"""
import contextlib

import torch

import peer_util


def build_model(arch, classes):
    if arch == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet
        return EfficientNet.from_name("efficientnet-lite0", num_classes=classes)
    import torchvision
    return getattr(torchvision.models, arch)(num_classes=classes)


def main():
    req, out = peer_util.read_request("peer_torch_cnn", "cnn", __doc__)
    cuda = req["device"] == "cuda"
    device = torch.device("cuda" if cuda else "cpu")
    result = dict(peer_util.versions(req["device"]))
    amp = cuda and req["dtype"] == "bf16"
    layout = "channels_last" if cuda else "nchw"
    result.update({"layout": layout + (" + bf16 autocast" if amp else " fp32"), "arch": req["arch"]})
    with peer_util.recording_failure(result, cuda):
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = True
        model = build_model(req["arch"], req["classes"]).to(device)
        fmt = torch.channels_last if cuda else torch.contiguous_format
        model = model.to(memory_format=fmt).train()
        b, s = req["batch"], req["size"]
        x = torch.randn(b, 3, s, s, device=device).to(memory_format=fmt)
        y = torch.randint(0, req["classes"], (b,), device=device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
            with ctx:
                loss = loss_fn(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as temper's step: norm + clip
            opt.step()

        result["step_s"] = peer_util.median_seconds(step, req["warmup"], req["iters"], cuda)
        result["images_per_s"] = b / result["step_s"]
    peer_util.write_result(out, result)


if __name__ == "__main__":
    main()
