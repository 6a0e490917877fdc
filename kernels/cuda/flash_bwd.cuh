// Pieces shared by the flash-attention backward files: the per-row statistics the preprocessing
// kernel (flash_bwd.cu) writes for the main kernels, the key mask as device code sees it, and the
// launchers of the two main paths (flash_bwd_mma.cu: tensor cores; flash_fallback_bwd.cu: generic).
#pragma once
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {

// Rows of the statistics arrays are padded to a multiple of this, so the tensor-core kernel can
// load a whole query block of them with 16-byte copies and no bounds checks.
constexpr int kFlashBwdRowPad = 64;

// Per query row statistics, f32 [B*NH, t_pad], row (b*NH + h)*t_pad + i (t_pad = T rounded up).
struct FlashBwdRows {
  const float* delta = nullptr;  // D_i = sum_e dout_ie * o_ie; 0 for rows i >= T
  const float* lse2 = nullptr;   // lse_i * log2(e); +inf for rows i >= T and rows that see no key
  int64_t t_pad = 0;
};

inline int64_t flash_bwd_padded_t(int64_t t) { return (t + kFlashBwdRowPad - 1) / kFlashBwdRowPad * kFlashBwdRowPad; }

// Which keys a query sees: key j is visible to query i of sequence b iff j < visible(i, b).
struct FlashKeyMask {
  bool causal = true;
  const int32_t* key_lengths = nullptr;  // [B] device, or null
  int64_t t = 0;
  // Keys [0, key_limit(b)) exist for sequence b: T, or its clamped key length.
  __device__ __forceinline__ int64_t key_limit(int64_t b) const {
    if (key_lengths == nullptr) return t;
    const int64_t len = key_lengths[b];
    return len < 0 ? 0 : (len < t ? len : t);
  }
  __device__ __forceinline__ int64_t visible(int64_t i, int64_t b) const {
    const int64_t n = causal ? i + 1 : t, lim = key_limit(b);
    return n < lim ? n : lim;
  }
};

inline FlashKeyMask flash_key_mask(const FlashAttnArgs& a) { return {a.causal, a.key_lengths, a.t}; }

// dq, dk, dv of every head, deterministic, any head size up to 256, any dtype and alignment.
void flash_backward_fallback(const FlashAttnArgs& a, const FlashBwdRows& rows);

// Whether the tensor-core kernel handles a (bf16/f16, HS 64 or 128, 16-byte aligned rows).
bool flash_backward_mma_supported(const FlashAttnArgs& a);
// dk, dv written; dq_acc (f32 [B,T,NH,HS], zeroed by the caller) accumulates the unscaled dq.
void flash_backward_mma(const FlashAttnArgs& a, const FlashBwdRows& rows, float* dq_acc);

}  // namespace temper::cuda
