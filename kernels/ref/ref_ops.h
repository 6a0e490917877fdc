// CPU reference twins of every op in kernels/*.h (same signatures, f32 activations).
// They define what each CUDA kernel must compute; the op test harness compares the two.
#pragma once
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/flash_attention.h"
#include "kernels/gelu.h"
#include "kernels/matmul.h"
#include "kernels/quantized_matmul.h"
#include "runtime/tensor.h"

namespace temper::ref {
using ops::AdamWStep;
using ops::AttentionMask;
using ops::AttnCausality;
using ops::FlashAttnArgs;
using ops::GeluKind;
using ops::Trans;

#include "kernels/backend_ops.inc"

}  // namespace temper::ref
