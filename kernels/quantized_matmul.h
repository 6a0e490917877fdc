// QLoRA's frozen base weights: a weight W [out, in] kept on the device in its GGML block type
// (kernels/ggml_types.h: Q4_1 as read from a GGUF file, or quantized at load), so the base costs its
// quantized size. The matmuls that read it dequantize on the fly: one weight at a time into a
// transient buffer of the activation dtype (freed to the caching allocator right after), then the
// ordinary matmul (cuBLASLt / OpenBLAS). For training's large N = B*T the dequantization is a small
// O(out*in) pass next to the O(N*out*in) product.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/ggml_types.h"
#include "kernels/matmul.h"
#include "runtime/tensor.h"

namespace temper {

struct QuantizedWeight {
  GgmlType type = GgmlType::F32;
  int64_t out = 0, in = 0;  // rows, row length (a multiple of the type's block size)
  Tensor blocks;            // u8 [out * row_bytes()]: row o = in / block_size blocks back to back
  int64_t row_bytes() const;
  int64_t nbytes() const { return out * row_bytes(); }
  Device device() const { return blocks.device(); }
};

// Whether `t` can be kept quantized on `device` (dequantize has a kernel for it there).
// CPU: every dequantizable type. CUDA: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K.
bool quantized_weight_supported(GgmlType t, Device device);

// A weight from its blocks on the host (`bytes.size()` must be out * row_bytes), put on `device`.
QuantizedWeight make_quantized_weight(GgmlType type, int64_t out, int64_t in, const std::vector<uint8_t>& bytes,
                                      Device device);

namespace ops {

// w[out, in] (f32, bf16 or f16; on q's device) = the dequantized weight.
void dequantize(const Tensor& w, const QuantizedWeight& q);
// y[N, out] = x[N, in] W^T (+ bias[out]) + beta * y. x may carry leading dimensions.
void quantized_matmul(const Tensor& y, const Tensor& x, const QuantizedWeight& w, const Tensor* bias = nullptr,
                      float beta = 0.f);
// dx[N, in] = dy[N, out] W + beta * dx (the input gradient; W itself is frozen).
void quantized_matmul_dx(const Tensor& dx, const Tensor& dy, const QuantizedWeight& w, float beta = 0.f);

}  // namespace ops
}  // namespace temper
