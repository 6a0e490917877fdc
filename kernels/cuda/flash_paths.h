// Host-side declarations shared by the CUDA flash-attention files: which kernel family runs
// (env TEMPER_FLASH_KERNEL), the eligibility test of the tensor-core (mma.sync) kernels, and the
// per-path forward entry points that kernels/cuda/flash_fwd.cu chooses between.
// No CUDA headers here: plain C++ so any flash file (and host code) can include it.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels/flash_attention.h"
#include "runtime/error.h"

namespace temper::cuda {

using ops::FlashAttnArgs;  // as in kernels/cuda/cuda_ops.h

// TEMPER_FLASH_KERNEL=auto|sm90|mma|fallback (unset or empty: auto).
//   auto:     the mma.sync kernels where eligible, else the generic kernels (Hopper kernels are
//             opt-in until verified on a GPU);
//   sm90:     the Hopper wgmma/TMA forward, an error when it does not handle the case;
//   mma:      as auto;
//   fallback: always the generic kernels (tests use it to check them on bf16/f16 too).
enum class FlashKernelPath { Auto, Sm90, Mma, Fallback };

// Read on every call (cheap), so tests can switch paths with setenv between calls.
inline FlashKernelPath flash_kernel_path_from_env() {
  const char* env = std::getenv("TEMPER_FLASH_KERNEL");
  const std::string v = env ? env : "";
  if (v.empty() || v == "auto") return FlashKernelPath::Auto;
  if (v == "sm90") return FlashKernelPath::Sm90;
  if (v == "mma") return FlashKernelPath::Mma;
  if (v == "fallback") return FlashKernelPath::Fallback;
  TEMPER_CHECK(false, "TEMPER_FLASH_KERNEL='{}' is not one of auto, sm90, mma, fallback", v);
  return FlashKernelPath::Auto;  // not reached
}

// 16-byte vector and cp.async access: the pointer is 16-byte aligned and rows `stride` elements
// apart stay so (every flash dtype with an mma path is 2 bytes wide: stride % 8 elements).
inline bool flash_aligned16(const void* p, int64_t stride_elems) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && stride_elems % 8 == 0;
}

// The dtype/head-size part of the mma.sync kernels' eligibility (alignment checked per operand).
inline bool flash_mma_dtype_and_head_ok(const FlashAttnArgs& a) {
  return (a.dtype == DType::BF16 || a.dtype == DType::F16) && (a.hs == 64 || a.hs == 128);
}

// Defined in kernels/cuda/flash_fwd_sm90.cu: launches the Hopper forward and returns true, or
// returns false without launching when it does not handle the case (dtype, head size, alignment,
// device not sm_90, or the library not compiled for sm_90a).
bool flash_forward_sm90(const FlashAttnArgs& a);

// kernels/cuda/flash_fwd_mma.cu: the mma.sync forward (sm_80+; caller checked eligibility).
void flash_forward_mma(const FlashAttnArgs& a);
// kernels/cuda/flash_fallback_fwd.cu: the generic forward (any dtype, HS 1..256, any alignment).
void flash_forward_fallback(const FlashAttnArgs& a);

}  // namespace temper::cuda
