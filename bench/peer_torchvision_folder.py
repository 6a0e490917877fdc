#!/usr/bin/env python3
"""The peer of bench/bench_image_folder.cpp: torchvision's ImageFolder with Resize + CenterCrop +
PILToTensor through a DataLoader with --workers processes, one pass in a seeded shuffled order;
prints images/s (and JSON with --json). `--make DIR` first writes a synthetic folder of JPEG photos
(noisy gradients at quality 90, ImageNet's typical 500x375 by default) for both benchmarks to read.

  python3 bench/peer_torchvision_folder.py --make /tmp/folder --count 512
  build/bench/bench_image_folder --data /tmp/folder --threads 2
  python3 bench/peer_torchvision_folder.py --data /tmp/folder --workers 2
"""
import argparse
import json
import os
import time

import numpy as np


def make_folder(root, count, w, h, classes=8):
    from PIL import Image
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        d = os.path.join(root, f"class{i % classes}")
        os.makedirs(d, exist_ok=True)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            a, b, p = rng.uniform(0.005, 0.05, 3)
            img[..., c] = 128 + 80 * np.sin(a * yy + b * xx + 10 * p)
        img += rng.normal(0, 20, (h, w, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(d, f"{i:06d}.jpg"), quality=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make")
    ap.add_argument("--count", type=int, default=512)
    ap.add_argument("--width", type=int, default=500)
    ap.add_argument("--height", type=int, default=375)
    ap.add_argument("--data")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.make:
        make_folder(args.make, args.count, args.width, args.height)
        print(f"wrote {args.count} JPEGs of {args.width}x{args.height} under {args.make}")
    if not args.data:
        return
    import torch
    from torchvision import datasets, transforms
    tf = transforms.Compose([transforms.Resize(args.resize), transforms.CenterCrop(args.image_size),
                             transforms.PILToTensor()])
    ds = datasets.ImageFolder(args.data, transform=tf)
    ds[0]  # warm-up: page cache
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    n = sum(x.shape[0] for x, _ in loader)
    s = time.perf_counter() - t0
    print(f"torchvision ImageFolder: {n} images in {s:.2f} s with {args.workers} workers: {n / s:.1f} images/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"images": n, "workers": args.workers, "seconds": s, "images_per_s": n / s}, f, indent=1)


if __name__ == "__main__":
    main()
