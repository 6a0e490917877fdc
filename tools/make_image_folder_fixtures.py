#!/usr/bin/env python3
"""Writes tests/fixtures/image_folder: small PNG and JPEG files in torchvision's ImageFolder layout and
what torchvision / PIL make of them, for tests/test_image_folder.cpp.

  train/<class>/...   every PNG flavour PIL reads (RGB, grey, 1-bit, palette with transparency, grey +
                      alpha, 16-bit RGBA, Adam7-interlaced) and JPEG (4:2:0, 4:4:4, grey, progressive),
                      portrait and landscape, smaller and larger than the crop, one in a subfolder
  valid/<class>/...   two of the three classes (ids must follow train's list)
  reference.safetensors
    decoded.<file>    PIL's Image.open(file).convert("RGB") as [H, W, 3] uint8 (the decoders)
    train.images / train.labels, valid.images / valid.labels
                      datasets.ImageFolder(root, Compose([Resize(RESIZE), CenterCrop(SIZE)])) as
                      [N, SIZE, SIZE, 3] uint8 / int32, in ImageFolder's order
    resize.src, resize.<h>x<w>
                      PIL's Image.resize((w, h), BILINEAR) of a random RGB image (up, down, one axis,
                      both pass orders of Pillow 13)
    grey16.expected   the one deliberate difference from PIL: a 16-bit grey PNG keeps its high byte
                      (PIL clips the 16-bit value to 255); grey16.png lies beside the folders

The PNG flavours PIL cannot write (16-bit RGBA, interlaced) come from a small encoder below.
Run: python3 tools/make_image_folder_fixtures.py [--out tests/fixtures/image_folder]
Needs numpy, pillow, torchvision, safetensors (not needed by CI: the output is committed).
"""
import argparse
import os
import shutil
import struct
import zlib

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from torchvision import datasets, transforms

SIZE, RESIZE = 24, 28


def smooth_image(rng, h, w, c=3):
    """A picture-like image: low-frequency colour gradients plus a little noise (JPEG-friendly)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, c))
    for ch in range(c):
        a, b, p = rng.uniform(0.02, 0.2, size=3)
        out[..., ch] = 127 + 90 * np.sin(a * yy + b * xx + p * 10) + rng.normal(0, 12, size=(h, w))
    return np.clip(out, 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def write_png(path, samples, color_type, bit_depth, interlace=False):
    """samples: [H, W, C] array of the file's sample type (uint8 or uint16). Filter 0 on every row."""
    h, w = samples.shape[:2]
    big = samples.astype(">u2") if bit_depth == 16 else samples.astype(np.uint8)

    def rows(img):
        return b"".join(b"\x00" + img[y].tobytes() for y in range(img.shape[0]))

    if interlace:
        raw = b"".join(rows(big[y0::dy, x0::dx]) for (y0, x0, dy, dx) in ADAM7 if y0 < h and x0 < w)
    else:
        raw = rows(big)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) +
                png_chunk(b"IEND", b""))


def write_train(root, rng):
    os.makedirs(f"{root}/train/ant/more")
    os.makedirs(f"{root}/train/bee")
    os.makedirs(f"{root}/train/cat")
    Image.fromarray(smooth_image(rng, 31, 45)).save(f"{root}/train/ant/rgb_landscape.png")
    Image.fromarray(smooth_image(rng, 40, 26)[..., 0]).save(f"{root}/train/ant/grey_portrait.png")
    Image.fromarray(smooth_image(rng, 30, 30)[..., 0] > 128).save(f"{root}/train/ant/bilevel.png")
    pal = Image.fromarray(smooth_image(rng, 29, 33)).quantize(16)
    pal.info["transparency"] = 3
    pal.save(f"{root}/train/ant/more/palette_trns.png", transparency=3)
    Image.fromarray(np.dstack([smooth_image(rng, 22, 35)[..., 0], smooth_image(rng, 22, 35)[..., 1]]),
                    "LA").save(f"{root}/train/bee/grey_alpha.PNG")
    rgba16 = (smooth_image(rng, 27, 38, 4).astype(np.uint16) * 257 + rng.integers(0, 256, (27, 38, 4))).astype(np.uint16)
    write_png(f"{root}/train/bee/rgba16.png", rgba16, 6, 16)
    write_png(f"{root}/train/bee/interlaced.png", smooth_image(rng, 19, 23), 2, 8, interlace=True)
    # Taller than twice its width: Pillow 13 resizes it height first.
    Image.fromarray(smooth_image(rng, 200, 60)).save(f"{root}/train/bee/tall.jpg", quality=90)
    Image.fromarray(smooth_image(rng, 120, 90)).save(f"{root}/train/cat/big420.jpg", quality=90)
    Image.fromarray(smooth_image(rng, 33, 47)).save(f"{root}/train/cat/s444.jpeg", quality=95, subsampling=0)
    Image.fromarray(smooth_image(rng, 35, 29)[..., 1]).save(f"{root}/train/cat/grey.JPG", quality=85)
    Image.fromarray(smooth_image(rng, 50, 61)).save(f"{root}/train/cat/progressive.jpg", quality=80, progressive=True)
    with open(f"{root}/train/cat/notes.txt", "w") as f:
        f.write("not an image: ImageFolder skips it\n")


def write_valid(root, rng):
    os.makedirs(f"{root}/valid/bee")
    os.makedirs(f"{root}/valid/cat")
    Image.fromarray(smooth_image(rng, 26, 37)).save(f"{root}/valid/bee/v1.png")
    Image.fromarray(smooth_image(rng, 64, 48)).save(f"{root}/valid/cat/v2.jpg", quality=92)


def folder_tensors(root, split):
    tf = transforms.Compose([transforms.Resize(RESIZE), transforms.CenterCrop(SIZE)])
    ds = datasets.ImageFolder(f"{root}/{split}", transform=tf)
    if split == "valid":  # our ids follow the training folder's class list
        train_classes = datasets.ImageFolder(f"{root}/train").classes
        remap = [train_classes.index(c) for c in ds.classes]
    else:
        remap = list(range(len(ds.classes)))
    images = np.stack([np.asarray(img, dtype=np.uint8) for img, _ in ds])
    labels = np.array([remap[t] for _, t in ds.samples], dtype=np.int32)
    return {f"{split}.images": images, f"{split}.labels": labels}, [os.path.relpath(p, root) for p, _ in ds.samples]


def resize_tensors(rng):
    src = rng.integers(0, 256, size=(41, 57, 3), dtype=np.uint8)
    out = {"resize.src": src}
    # Pillow 13 runs the vertical pass first when 41 - h > 2 * (57 - w): both orders, the boundary
    # (31, 52), one axis alone, identity, up- and down-scaling.
    for h, w in [(13, 9), (100, 77), (20, 57), (41, 130), (5, 3), (41, 57), (5, 50), (30, 52), (31, 52),
                 (29, 52), (60, 200), (45, 60), (3, 56)]:
        out[f"resize.{h}x{w}"] = np.asarray(Image.fromarray(src).resize((w, h), Image.BILINEAR))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/image_folder")
    args = ap.parse_args()
    root = args.out
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(20261124)
    write_train(root, rng)
    write_valid(root, rng)
    grey16 = (smooth_image(rng, 17, 21)[..., 0].astype(np.uint16) * 251 + 3).astype(np.uint16)
    write_png(f"{root}/grey16.png", grey16[..., None], 0, 16)

    tensors = {"grey16.expected": np.repeat((grey16 >> 8).astype(np.uint8)[..., None], 3, axis=2)}
    files = []
    for split in ("train", "valid"):
        t, names = folder_tensors(root, split)
        tensors.update(t)
        files += names
    for name in files:
        tensors[f"decoded.{name}"] = np.asarray(Image.open(f"{root}/{name}").convert("RGB"))
    tensors.update(resize_tensors(rng))
    import PIL
    import torchvision
    meta = {"size": str(SIZE), "resize": str(RESIZE), "pillow": PIL.__version__, "torchvision": torchvision.__version__}
    save_file(tensors, f"{root}/reference.safetensors", metadata=meta)
    print(f"wrote {root}: {len(files)} images, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
