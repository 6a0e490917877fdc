// Dropout with a counter-based mask (LoRA dropout): element i of a call with `seed` is kept when
// uniform(seed, i) >= p and then scaled by 1 / (1 - p), else zeroed. The mask is a pure function
// of (seed, i) (a splitmix64 hash), so backward and a recomputed forward regenerate it instead of
// storing it, and the CPU and CUDA backends draw the same mask.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace temper::ops {

// out = dropout(x) elementwise (f32, bf16 or f16; same shape; out may be x). p in [0, 1).
// The gradient is the same op on dout with the same seed.
void dropout(const Tensor& out, const Tensor& x, float p, uint64_t seed);

// The keep decision for element i (what both backends compute; exposed for tests).
bool dropout_keeps(uint64_t seed, int64_t i, float p);

}  // namespace temper::ops
