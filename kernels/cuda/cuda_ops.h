// CUDA implementations of every op in kernels/*.h (same signatures; activations bf16 or f32,
// f32 statistics, gradients and optimizer state). No CUDA headers here: dispatch includes this.
#pragma once
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/flash_attention.h"
#include "kernels/gelu.h"
#include "kernels/matmul.h"
#include "kernels/quantized_matmul.h"
#include "runtime/tensor.h"

namespace temper::cuda {
using ops::AdamWStep;
using ops::AttentionMask;
using ops::AttnCausality;
using ops::FlashAttnArgs;
using ops::GeluKind;
using ops::Trans;

#include "kernels/backend_ops.inc"

}  // namespace temper::cuda
