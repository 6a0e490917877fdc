// CUDA flash-attention forward: the backend entry point. Chooses the kernel family and launches it:
//   TEMPER_FLASH_KERNEL=sm90      -> the Hopper wgmma/TMA kernel (kernels/cuda/flash_fwd_sm90.cu),
//                                    an error when it does not take the case;
//   auto (default) or mma         -> the mma.sync kernel (kernels/cuda/flash_fwd_mma.cu) for bf16/f16,
//                                    HS 64 or 128, 16-byte aligned q/k/v/out and strides, on sm_80+;
//                                    otherwise the generic kernel;
//   fallback                      -> always the generic kernel (kernels/cuda/flash_fallback_fwd.cu).
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/flash_paths.h"
#include "runtime/cuda/cuda_check.h"

namespace temper::cuda {
namespace {

// mma.sync m16n8k16 with bf16 operands, ldmatrix and cp.async need compute capability 8.0.
bool device_has_mma_sync() {
  int device = 0, major = 0;
  TEMPER_CUDA_CHECK(cudaGetDevice(&device));
  TEMPER_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 8;
}

bool mma_forward_eligible(const FlashAttnArgs& a) {
  return flash_mma_dtype_and_head_ok(a) && flash_aligned16(a.q, a.q_stride) && flash_aligned16(a.k, a.kv_stride) &&
         flash_aligned16(a.v, a.kv_stride) && flash_aligned16(a.out, a.o_stride) && device_has_mma_sync();
}

}  // namespace

void flash_attention_forward(const FlashAttnArgs& a) {
  if (a.b == 0 || a.t == 0 || a.nh == 0) return;
  switch (flash_kernel_path_from_env()) {
    case FlashKernelPath::Sm90:
      TEMPER_CHECK(flash_forward_sm90(a),
                   "TEMPER_FLASH_KERNEL=sm90 but the Hopper forward does not take this case (it needs bf16/f16, "
                   "HS 64 or 128, 16-byte aligned operands, an sm_90 device and a build for sm_90a; got {}, HS {})",
                   dtype_name(a.dtype), a.hs);
      return;
    case FlashKernelPath::Fallback:
      flash_forward_fallback(a);
      return;
    case FlashKernelPath::Auto:
    case FlashKernelPath::Mma:
      break;
  }
  if (mma_forward_eligible(a)) {
    flash_forward_mma(a);
  } else {
    flash_forward_fallback(a);
  }
}

}  // namespace temper::cuda
