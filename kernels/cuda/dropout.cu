// CUDA dropout (f32, bf16, f16 storage; f32 math), bit for bit the CPU reference
// (kernels/ref/dropout_ref.cpp): the mask is the shared kernels/dropout_mask.h hash of (seed, i),
// kept values are x * scale with scale = 1 / (1 - p) computed once on the host, one f32 rounding
// (__fmul_rn, never contracted), then round to nearest even into the storage type.
// Grid-stride loop, one thread per element per step; no shared memory. Each element is read
// before it is written, so out may alias x.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/dropout_mask.h"

namespace temper::cuda {
namespace {

__device__ __forceinline__ void store_rn(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_rn(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_rn(__half* p, float v) { *p = __float2half_rn(v); }

template <class T>
__global__ void dropout_kernel(T* out, const T* x, int64_t n, float p, float scale, uint64_t seed) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const bool keep = dropout_mask::keeps(seed, i, p);
    store_rn(out + i, keep ? __fmul_rn(to_f32(x[i]), scale) : 0.f);
  }
}

}  // namespace

void dropout(const Tensor& out, const Tensor& x, float p, uint64_t seed) {
  TEMPER_CHECK(p >= 0.f && p < 1.f, "dropout: p must be in [0, 1), got {}", p);
  check_on_cuda(out, "dropout", "out");
  check_on_cuda(x, "dropout", "x");
  check_shape(out, x.shape(), "dropout", "out");
  check_dtype(out, x.dtype(), "dropout", "out");
  if (p == 0.f) {  // identity: a plain copy on the compute stream, none when out is x
    if (out.raw() != x.raw()) out.copy_from(x);
    return;
  }
  const int64_t n = x.numel();
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - p);  // on the host, as the CPU reference computes it
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dropout_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(out), cptr<T>(x), n, p, scale, seed);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
