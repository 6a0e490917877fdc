// Matrix products for linear layers. CPU: OpenBLAS sgemm. CUDA: cuBLASLt (bf16 or f32 inputs,
// f32 accumulation; output bf16 or f32, so weight gradients can accumulate straight into f32).
// Tensors are handles: outputs are written through them, hence `const Tensor&` everywhere.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

enum class Trans { No, Yes };

// out[M,N] = op(a) @ op(b) + beta * out (+ bias[N] on every row when given).
// a: [M,K] (Trans::Yes: [K,M]); b: [K,N] (Trans::Yes: [N,K]). Inputs may carry leading
// dimensions: they are flattened to 2-D by their last dimension.
void matmul(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb,
            const Tensor* bias = nullptr, float beta = 0.f);

// dbias[N] += sum over rows of dy[M,N] (dbias f32).
void bias_backward(const Tensor& dbias, const Tensor& dy);

}  // namespace temper::ops
