#!/usr/bin/env python3
"""GGUF reference fixtures for tests/test_gguf.cpp and tests/test_gguf_smollm2.cpp, written with the
`gguf` Python package (llama.cpp's reader/writer; `pip install gguf numpy safetensors`).

  python3 tools/make_gguf_fixture.py                 # tests/fixtures/gguf/small.gguf + small_expected.safetensors
  python3 tools/make_gguf_fixture.py --smollm2 FILE  # tests/fixtures/gguf/smollm2_expected.safetensors

small.gguf: metadata of every GGUF value type (values listed in METADATA below; the C++ test states the
same values) and one tensor per GGML type the reader dequantizes: F32/F16/BF16/F64 from numpy, the
32-element block types quantized with gguf.quants.quantize and also as random raw blocks, the K-quants
(which the package cannot quantize) as random raw blocks. small_expected.safetensors holds each tensor
dequantized by gguf.quants.dequantize (row-major f32: GGUF dims reversed).

smollm2_expected.safetensors: for a few tensors of each type in the real SmolLM2 file, rows 0, 1 and
the last row dequantized; in its metadata, for every tensor, "hash sum sumsq" of the whole dequantized
tensor, where hash = sum_i bits(x_i) * (2 i + 1) mod 2^64 (hex) over the row-major f32 values.
"""
import argparse
import json
import os
import sys
import time

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")

# key -> (value, type, array element type or None). Mirrored in tests/test_gguf.cpp.
METADATA = {
    "test.u8": (200, V.UINT8, None),
    "test.i8": (-100, V.INT8, None),
    "test.u16": (60000, V.UINT16, None),
    "test.i16": (-30000, V.INT16, None),
    "test.u32": (4000000000, V.UINT32, None),
    "test.i32": (-2000000000, V.INT32, None),
    "test.u64": (2**40 + 3, V.UINT64, None),
    "test.u64_big": (2**63 + 5, V.UINT64, None),
    "test.i64": (-(2**50) - 7, V.INT64, None),
    "test.f32": (3.14159, V.FLOAT32, None),
    "test.f64": (2.718281828459045, V.FLOAT64, None),
    "test.true": (True, V.BOOL, None),
    "test.false": (False, V.BOOL, None),
    "test.string": ("h\u00e9llo w\u00f6rld", V.STRING, None),
    "test.empty_string": ("", V.STRING, None),
    "test.strings": (["a", "bb", "", "\u00fcn\u00ef"], V.ARRAY, V.STRING),
    "test.i32s": ([1, -2, 3], V.ARRAY, V.INT32),
    "test.u8s": ([0, 255, 7], V.ARRAY, V.UINT8),
    "test.u64s": ([2**40, 1], V.ARRAY, V.UINT64),
    "test.f32s": ([0.5, -1.25, 1e-3], V.ARRAY, V.FLOAT32),
    "test.f64s": ([0.1, -2.5], V.ARRAY, V.FLOAT64),
    "test.bools": ([True, False, True], V.ARRAY, V.BOOL),
    "test.nested": ([["x", "y"], ["z"]], V.ARRAY, V.ARRAY),
    "test.mixed_nested": ([[1, 2], ["w"]], V.ARRAY, V.ARRAY),
    "tokenizer.ggml.tokens": (["<s>", "</s>", "hi", "\u0120there"], V.ARRAY, V.STRING),
    "tokenizer.ggml.merges": (["h i", "\u0120 t"], V.ARRAY, V.STRING),
    "tokenizer.ggml.bos_token_id": (0, V.UINT32, None),
    "tokenizer.ggml.eos_token_id": (1, V.UINT32, None),
    "tokenizer.chat_template": ("{% for m in messages %}{{ m['content'] }}{% endfor %}", V.STRING, None),
}
ALIGNMENT = 64  # not the default 32, so the reader must honour general.alignment

# Byte offsets of the f16 scales inside one block, set to finite values in random raw blocks.
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def random_blocks(rng, qtype, shape):
    """Random bytes for a quantized tensor of row-major `shape`, with finite f16 scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = int(np.prod(shape)) // block
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for at in F16_FIELDS[qtype]:
        scale = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, at:at + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(*shape[:-1], shape[-1] // block * size)


def small_tensors(rng):
    """name -> (bytes or array to write, ggml type or None for plain numpy, expected f32 row-major)."""
    out = {}
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    out["f32.vec"] = (np.arange(7, dtype=np.float32) - 3.5, None)
    out["f32.mat"] = (f32, None)
    f16 = np.array([[1.0, -0.0, 6.0e-8, -3.0e-5, 65504.0, np.inf],
                    [0.1, 0.2, -0.3, 1e-4, -2.5, 7.0]] * 2, dtype=np.float16)
    out["f16.mat"] = (f16, None)
    out["f64.mat"] = (rng.standard_normal((2, 3)), None)
    out["bf16.mat"] = (gguf.quants.quantize(rng.standard_normal((2, 8)).astype(np.float32), Q.BF16), Q.BF16)
    shapes = {Q.Q4_0: (3, 64), Q.Q4_1: (3, 64), Q.Q5_0: (2, 96), Q.Q5_1: (2, 64), Q.Q8_0: (4, 32)}
    for qtype, shape in shapes.items():
        data = (rng.standard_normal(shape) * 0.3 + 0.05).astype(np.float32)
        out[f"{qtype.name.lower()}.mat"] = (gguf.quants.quantize(data, qtype), qtype)
        out[f"{qtype.name.lower()}.rand"] = (random_blocks(rng, qtype, shape), qtype)
    out["q8_0.3d"] = (gguf.quants.quantize(rng.standard_normal((2, 3, 32)).astype(np.float32), Q.Q8_0), Q.Q8_0)
    out["q4_1.4d"] = (gguf.quants.quantize(rng.standard_normal((2, 2, 1, 32)).astype(np.float32), Q.Q4_1), Q.Q4_1)
    for qtype in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        out[f"{qtype.name.lower()}.rand"] = (random_blocks(rng, qtype, (2, 512)), qtype)
    return out


def save_safetensors(tensors, path, metadata=None):
    """safetensors.numpy.save_file, then the header re-written with sorted keys (the library orders its
    metadata map at random), so that re-running the script reproduces the file byte for byte."""
    save_file(tensors, path, metadata=metadata)
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header + data[8 + n:])
    os.chmod(path, 0o644)


def expected_f32(data, qtype):
    if qtype is None:
        return data.astype(np.float32)
    return gguf.quants.dequantize(data, qtype).astype(np.float32)


def write_small():
    rng = np.random.default_rng(1234)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "small.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_custom_alignment(ALIGNMENT)
    for key, (value, vtype, sub) in METADATA.items():
        w.add_key_value(key, value, vtype, sub_type=sub)
    tensors = small_tensors(rng)
    expected = {}
    for name, (data, qtype) in tensors.items():
        w.add_tensor(name, data, raw_dtype=qtype)
        expected[name] = np.ascontiguousarray(expected_f32(data, qtype))
    # Types the reader lists but does not dequantize: raw bytes i * 7 + 3 (mod 256), and int32 values.
    q8k = (np.arange(292, dtype=np.int64) * 7 + 3).astype(np.uint8).reshape(1, 292)
    w.add_tensor("q8_k.raw", q8k, raw_dtype=Q.Q8_K)
    w.add_tensor("i32.vec", np.array([1, -2, 3], dtype=np.int32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    check_roundtrip(path, expected)
    save_safetensors(expected, os.path.join(OUT, "small_expected.safetensors"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and small_expected.safetensors ({len(expected)} tensors)")


def check_roundtrip(path, expected):
    """The package's own reader must read back what we meant to write."""
    r = gguf.GGUFReader(path)
    assert r.alignment == ALIGNMENT
    for t in r.tensors:
        if t.name in expected:
            got = expected_f32(np.asarray(t.data), None if t.tensor_type in (Q.F32, Q.F16, Q.F64) else t.tensor_type)
            want = expected[t.name]
            assert got.reshape(want.shape).tobytes() == want.tobytes(), t.name


def tensor_hash(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return int(np.sum(bits * weights, dtype=np.uint64))


def write_smollm2(model_path):
    r = gguf.GGUFReader(model_path)
    chosen = {"token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "blk.0.attn_norm.weight",
              "output_norm.weight"}
    rows, sums = {}, {}
    start = time.time()
    for t in r.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))  # row-major
        x = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(shape)
        x64 = x.astype(np.float64)
        sums[t.name] = f"{tensor_hash(x):016x} {float(x64.sum())!r} {float((x64 * x64).sum())!r}"
        if t.name in chosen:
            flat = x.reshape(-1, shape[-1])
            rows[t.name] = np.ascontiguousarray(flat[[0, 1, -1]] if flat.shape[0] > 1 else flat)
    out = os.path.join(OUT, "smollm2_expected.safetensors")
    save_safetensors(rows, out, metadata=sums)
    print(f"dequantized {len(r.tensors)} tensors with the gguf package in {time.time() - start:.1f} s; wrote {out} "
          f"({os.path.getsize(out)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smollm2", metavar="FILE", help="write the SmolLM2 expectations from this GGUF file")
    args = ap.parse_args()
    print(f"gguf {getattr(gguf, '__version__', '?')}, numpy {np.__version__}", file=sys.stderr)
    if args.smollm2:
        write_smollm2(args.smollm2)
    else:
        write_small()


if __name__ == "__main__":
    main()
