#!/usr/bin/env python3
"""Quantization fixture for tests/test_ggml_quantize.cpp: f32 inputs and the bytes the `gguf` Python
package's gguf.quants.quantize writes for them (`pip install gguf numpy safetensors`).

  python3 tools/make_quant_fixture.py   # tests/fixtures/quant/quant.safetensors (~45 KB)

Tensors (all in one safetensors file; the quantized bytes are U8 tensors the C++ test reads raw):
  input    F32 [768]      24 hand-built blocks of 32, one edge case each (see awkward_blocks)
  random   F32 [8, 256]   64 blocks of normals, per-block scale 1e-7..1e4 and offset
  special  F32 [40]       NaN payloads, infinities, f16/bf16 overflow and rounding ties, subnormals:
                          quantized to the plain types (F32 F16 BF16) only
  SRC.TYPE U8             gguf.quants.quantize(SRC, TYPE) as bytes (F16: numpy's astype(float16))
"""
import os
from importlib.metadata import version

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")

BLOCK_TYPES = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
PLAIN_TYPES = [Q.F32, Q.F16, Q.BF16]
F16_TIE = 1 + 2.0**-11  # halfway between two f16 values: rounds to even (1.0)


def halves(lo, count):
    """lo, lo + 1, ... (count values): with lo = k + 0.5 each one is a rounding tie at scale 1."""
    return lo + np.arange(count, dtype=np.float64)


def awkward_blocks(rng):
    """24 blocks of 32 elements, each an edge case of some quantizer."""
    def normal(scale=1.0):
        return rng.normal(0.0, scale, 32)

    b = []
    b.append(normal())                                         # 0 plain normals
    b.append(normal(0.02))                                     # 1 weight-like magnitudes
    b.append(np.zeros(32))                                     # 2 all zeros: scale 0, id 0
    x = normal(); x[7] = 50.0; b.append(x)                     # 3 one positive outlier
    x = -(np.abs(normal()) + 0.1); x[20] = -9.0; b.append(x)   # 4 only negatives: max-abs is negative
    b.append(np.concatenate([[-8.0], np.arange(-7.5, 7.75, 0.5)]))  # 5 Q4_0: d = 1, x + 8.5 on integers
    b.append(np.concatenate([[-16.0], halves(-15.5, 31)]))     # 6 Q5_0: d = 1, ties at every element
    h = halves(0.5, 15)
    b.append(np.concatenate([[127.0], h, -h, [126.5]]))        # 7 Q8_0: d = 1, ties round away from 0
    b.append(np.concatenate([[0.0, 15.0], halves(0.5, 15), np.arange(1, 14), [7.25, 2.75]]))  # 8 Q4_1 d = 1
    b.append(np.concatenate([[-1.0, 30.0], halves(-0.5, 30)]))  # 9 Q5_1: d = 1, ties
    b.append(normal(1e-6))                                     # 10 f16 scales subnormal
    b.append(normal(1e-9))                                     # 11 f16 scales flush to 0, quants do not
    b.append(normal(1e-30))                                    # 12 tiny but normal f32
    b.append(normal(1e-39))                                    # 13 f32 subnormals: 1/d overflows to inf
    x = normal(3000.0); x[5] = 1.2e4; x[6] = -1.1e4; b.append(x)  # 14 large values
    x = normal() * 0.1; x[0] = 127.0 * F16_TIE; b.append(x)    # 15 Q8_0: d = 1 + 2^-11, an f16 tie
    x = normal() * 0.1; x[9] = -8.0 * F16_TIE; b.append(x)     # 16 Q4_0: d = 1 + 2^-11, an f16 tie
    x = rng.uniform(0.0, 14.0, 32) * F16_TIE - F16_TIE          # 17 Q4_1: d and m both f16 ties
    x[3], x[30] = -F16_TIE, 14.0 * F16_TIE; b.append(x)
    b.append(np.full(32, 0.7))                                 # 18 constant: Q4_1 d = 0, m = x
    b.append(np.full(32, -3.0))                                # 19 constant negative
    b.append(np.full(32, -0.0))                                # 20 all -0.0: Q4_0 d = -0/-8 = +0
    x = normal() * 0.1; x[3], x[10] = -5.0, 5.0; b.append(x)   # 21 max-abs tie: first one (-5) wins
    x = normal() * 0.1; x[3], x[10] = 5.0, -5.0; b.append(x)   # 22 max-abs tie: first one (+5) wins
    x = normal(); x[31] = -1e3; b.append(x)                    # 23 negative outlier, last element
    out = np.concatenate(b).astype(np.float32)
    assert out.size == 24 * 32
    return out


def random_rows(rng):
    """64 blocks of normals with per-block scale (1e-7..1e4) and, for every other block, an offset."""
    scales = 10.0 ** rng.uniform(-7, 4, (64, 1))
    offsets = np.where(np.arange(64)[:, None] % 2 == 1, rng.normal(0, 2, (64, 1)), 0.0) * scales
    return (rng.normal(0, 1, (64, 32)) * scales + offsets).astype(np.float32).reshape(8, 256)


def special_values():
    bits = [0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FA00000, 0x7FBFFFFF, 0xFFC00001, 0x7FC01234, 0x7F802000,
            0x7F800000, 0xFF800000,  # +-inf
            0x477FEFFF, 0x477FF000, 0xC77FF000,  # just below 65520 (-> 65504), 65520 and -65520 (-> inf)
            0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0xFF7FFFFF,  # near FLT_MAX: bf16 overflow ties
            0x00000001, 0x80000001, 0x000FFFFF,  # f32 subnormals
            0x33800000, 0x33000000, 0x33400000, 0x33C00000, 0x34200000,  # f16 subnormal: 2^-24, ties
            0x38800000, 0x387FE000, 0x387FF000,  # f16 smallest normal and the tie just below it
            0x3F801000, 0x3F803000, 0x3F808000, 0x3F818000, 0xBF808000,  # f16 and bf16 ties near 1
            0x00000000, 0x80000000, 0x3F800000, 0x47800000, 0x4B000001, 0xC2F6E979, 0x3DCCCCCD]
    out = np.array(bits, dtype=np.uint32).view(np.float32)
    assert out.size == 40
    return out


def quant_bytes(x, qtype):
    with np.errstate(all="ignore"):  # block 13: 1/d overflows, numpy warns about inf/nan casts
        return np.ascontiguousarray(gguf.quants.quantize(x, qtype)).view(np.uint8).reshape(-1)


def main():
    rng = np.random.default_rng(20240611)
    sources = {"input": awkward_blocks(rng), "random": random_rows(rng), "special": special_values()}
    tensors = dict(sources)
    for name, x in sources.items():
        types = PLAIN_TYPES if name == "special" else PLAIN_TYPES + BLOCK_TYPES
        for qtype in types:
            tensors[f"{name}.{qtype.name}"] = quant_bytes(x, qtype)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "quant.safetensors")
    save_file(tensors, path, metadata={"gguf": version("gguf"), "numpy": np.__version__})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
