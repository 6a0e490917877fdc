#!/usr/bin/env python3
"""safetensors compatibility fixtures for tests/test_safetensors.cpp.

make (default): writes tests/fixtures/safetensors/sample.safetensors with the real `safetensors`
library (via torch, the only way it writes BF16) and sample.expected.json holding, per tensor, the
dtype, shape and the stored values as exact f32/int numbers, plus the names in data-offset order.

verify DIR: reads the files the C++ test writes when TEMPER_SAFETENSORS_EXPORT_DIR=DIR is set
(ours_np.safetensors with `safetensors.numpy.load_file`, ours_bf16.safetensors with
`safetensors.deserialize`, numpy having no bfloat16) and checks every value.

Needs: safetensors, numpy; `make` also needs torch.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import safetensors
import safetensors.numpy

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "tests", "fixtures", "safetensors")


def sample_tensors():
    import torch

    return {
        "f32.matrix": torch.arange(-6, 6, dtype=torch.float32).reshape(3, 4) / 7.0,
        "f16.values": torch.tensor([0.1, -2.5, 65504.0, 1e-7, 0.0, 3.140625], dtype=torch.float16),
        "bf16.values": torch.tensor([[1.0 / 3.0, -3.14159], [1e30, 2.0**-130]], dtype=torch.bfloat16),
        "f64.values": torch.tensor([1.0 / 3.0, -1e-3, 1e20], dtype=torch.float64),
        "i32.ids": torch.tensor([0, -1, 2147483647, -2147483648], dtype=torch.int32),
        "i64.ids": torch.tensor([[5, -7], [123456789, 0]], dtype=torch.int64),
        "i64.big": torch.tensor([2**40], dtype=torch.int64),
        "u8.bytes": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "scalar": torch.tensor(2.75, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float16),
    }


def header_order(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return sorted(header, key=lambda k: (header[k]["data_offsets"], k))


def make():
    import torch
    import safetensors.torch

    tensors = sample_tensors()
    metadata = {"format": "pt", "note": "temper safetensors fixture"}
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, "sample.safetensors")
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    expected = {"metadata": metadata, "order": header_order(path), "tensors": {}}
    for name, t in tensors.items():
        floating = t.is_floating_point()
        values = t.to(torch.float32 if floating else torch.int64).flatten().tolist()
        expected["tensors"][name] = {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "values": values,  # floats: the stored value widened to f32, printed exactly
        }
    with open(os.path.join(OUT_DIR, "sample.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and sample.expected.json")


def bf16_to_f32(raw):
    bits = np.frombuffer(bytes(raw), dtype="<u2").astype(np.uint32) << 16
    return bits.view(np.float32)


def verify(directory):
    # Must match the values written by the WriterOutputReadableByPython test.
    base = np.array([i * 0.5 - 1.0 for i in range(6)], dtype=np.float32).reshape(2, 3)
    ids = np.array([0, -1, 7, 123456], dtype=np.int32)
    meta = {"format": "pt", "step": "7"}

    path = os.path.join(directory, "ours_np.safetensors")
    t = safetensors.numpy.load_file(path)
    assert t["a"].dtype == np.float32 and np.array_equal(t["a"], base), t["a"]
    assert t["b"].dtype == np.float16 and np.array_equal(t["b"], base.astype(np.float16)), t["b"]
    assert t["idx"].dtype == np.int32 and np.array_equal(t["idx"], ids), t["idx"]
    assert t["scalar"].shape == () and t["scalar"] == np.float32(3.25), t["scalar"]
    assert t["empty"].shape == (0,), t["empty"].shape
    with safetensors.safe_open(path, framework="np") as f:
        assert f.metadata() == meta, f.metadata()
        assert list(f.keys()) == sorted(["a", "b", "idx", "scalar", "empty"]), list(f.keys())

    path = os.path.join(directory, "ours_bf16.safetensors")
    with open(path, "rb") as f:
        entries = dict(safetensors.deserialize(f.read()))
    assert entries["a"]["dtype"] == "BF16" and entries["a"]["shape"] == [2, 3], entries["a"]
    assert np.array_equal(bf16_to_f32(entries["a"]["data"]).reshape(2, 3), base)
    assert entries["idx"]["dtype"] == "I32"
    assert np.array_equal(np.frombuffer(bytes(entries["idx"]["data"]), dtype="<i4"), ids)
    print(f"ok: safetensors {safetensors.__version__} reads {directory}/ours_np.safetensors and ours_bf16.safetensors")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="make", choices=["make", "verify"])
    parser.add_argument("dir", nargs="?", help="verify: the TEMPER_SAFETENSORS_EXPORT_DIR the test wrote into")
    args = parser.parse_args()
    if args.mode == "make":
        make()
    else:
        if not args.dir:
            sys.exit("verify needs the directory the test exported into")
        verify(args.dir)


if __name__ == "__main__":
    main()
