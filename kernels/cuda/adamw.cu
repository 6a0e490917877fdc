// CUDA AdamW update (f32 parameters and state, torch.optim.AdamW arithmetic order, optional
// bf16/f16/f32 parameter copy) and the f64 sum of squares behind the global gradient norm.
// adamw_kernel: grid-stride, one thread per parameter per step; no shared memory.
// sum_squares: stage 1, up to kSsqBlocks blocks of 256 threads, each thread accumulates x^2 in f64
// over a grid-stride loop, a block reduction (32 doubles of shared memory) gives one partial per
// block; stage 2, one block adds the partials. Fixed order: deterministic for a given size.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "runtime/cuda/caching_allocator.h"

namespace temper::cuda {
namespace {

struct AdamWConsts {  // per-step scalars, computed on the host as the CPU reference does
  float beta1, beta2, eps, grad_scale, step_size, bc2_sqrt, decay;
};

template <class TC>
__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, TC* copy, AdamWConsts k, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const float gi = g[i] * k.grad_scale;
    float pi = p[i] * k.decay;
    const float mi = k.beta1 * m[i] + (1.f - k.beta1) * gi;
    const float vi = k.beta2 * v[i] + (1.f - k.beta2) * gi * gi;
    pi -= k.step_size * mi / (sqrtf(vi) / k.bc2_sqrt + k.eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if (copy != nullptr) copy[i] = from_f32<TC>(pi);
  }
}

AdamWConsts adamw_consts(const AdamWStep& s) {
  const float bc1 = 1.f - std::pow(s.beta1, static_cast<float>(s.step));
  const float bc2 = 1.f - std::pow(s.beta2, static_cast<float>(s.step));
  return AdamWConsts{s.beta1, s.beta2, s.eps, s.grad_scale, s.lr / bc1, std::sqrt(bc2), 1.f - s.lr * s.weight_decay};
}

constexpr int kSsqBlocks = 1024;

__global__ void sum_squares_partial_kernel(double* partial, const float* x, int64_t n) {
  double acc = 0.0;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) acc += static_cast<double>(x[i]) * x[i];
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_squares_final_kernel(double* result, const double* partial, int n_partial) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < n_partial; i += blockDim.x) acc += partial[i];
  acc = block_reduce(acc, SumOp{}, 0.0);
  if (threadIdx.x == 0) *result = acc;
}

// Device scratch from the caching allocator (frees are ordered on the compute stream).
struct DeviceScratch {
  explicit DeviceScratch(size_t bytes) : ptr(caching_alloc(bytes)) {}
  ~DeviceScratch() { caching_free(ptr); }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  void* ptr;
};

}  // namespace

void adamw_update(const Tensor& param, const Tensor& m, const Tensor& v, const Tensor& grad, const AdamWStep& s,
                  const Tensor& param_copy) {
  const int64_t n = param.numel();
  TEMPER_CHECK(m.numel() == n && v.numel() == n && grad.numel() == n, "adamw_update: sizes differ");
  for (const Tensor* t : {&param, &m, &v, &grad}) {
    check_dtype(*t, DType::F32, "adamw_update (cuda)", "param/m/v/grad");
    check_on_cuda(*t, "adamw_update", "param/m/v/grad");
  }
  if (param_copy.defined()) {
    TEMPER_CHECK(param_copy.numel() == n, "adamw_update: param_copy has {} elements, not {}", param_copy.numel(), n);
    check_on_cuda(param_copy, "adamw_update", "param_copy");
  }
  if (n == 0) return;
  const AdamWConsts k = adamw_consts(s);
  const DType copy_dtype = param_copy.defined() ? param_copy.dtype() : DType::F32;
  dispatch_float(copy_dtype, "adamw_update param_copy", [&](auto tag) {
    using TC = typename decltype(tag)::type;
    TC* copy = param_copy.defined() ? mptr<TC>(param_copy) : nullptr;
    adamw_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<float>(param), mptr<float>(m), mptr<float>(v),
                                                               cptr<float>(grad), copy, k, n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

double sum_squares(const Tensor& x) {
  check_dtype(x, DType::F32, "sum_squares (cuda)", "x");
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const int64_t want = (n + kBlock - 1) / kBlock;
  const int blocks = static_cast<int>(want < kSsqBlocks ? want : kSsqBlocks);
  DeviceScratch scratch(sizeof(double) * (blocks + 1));
  double* partial = static_cast<double*>(scratch.ptr);
  sum_squares_partial_kernel<<<blocks, kBlock, 0, compute_stream()>>>(partial, cptr<float>(x), n);
  TEMPER_CUDA_LAUNCH_CHECK();
  sum_squares_final_kernel<<<1, kBlock, 0, compute_stream()>>>(partial + blocks, partial, blocks);
  TEMPER_CUDA_LAUNCH_CHECK();
  double result = 0.0;
  TEMPER_CUDA_CHECK(
      cudaMemcpyAsync(&result, partial + blocks, sizeof(double), cudaMemcpyDeviceToHost, compute_stream()));
  TEMPER_CUDA_CHECK(cudaStreamSynchronize(compute_stream()));
  return result;
}

}  // namespace temper::cuda
