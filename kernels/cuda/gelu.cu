// CUDA GELU (tanh approximation, GPT-2's "gelu_new", or the exact erf form, BERT's "gelu") and its
// derivative, bf16 or f32 storage, f32 math. Grid-stride loops, one thread per element per step; no
// shared memory. The kind is a uniform runtime branch.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ float gelu(float v, bool erf_form) {
  if (erf_form) return 0.5f * v * (1.f + erff(v * kInvSqrt2));
  return 0.5f * v * (1.f + tanhf(kSqrt2OverPi * (v + kCubic * v * v * v)));
}

__device__ float gelu_grad(float v, bool erf_form) {
  if (erf_form) return 0.5f * (1.f + erff(v * kInvSqrt2)) + v * kInvSqrt2Pi * expf(-0.5f * v * v);
  const float t = tanhf(kSqrt2OverPi * (v + kCubic * v * v * v));
  const float du = kSqrt2OverPi * (1.f + 3.f * kCubic * v * v);
  return 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du;
}

template <class T>
__global__ void gelu_forward_kernel(T* out, const T* x, int64_t n, bool erf_form) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = from_f32<T>(gelu(to_f32(x[i]), erf_form));
}

template <class T>
__global__ void gelu_backward_kernel(T* dx, const T* dout, const T* x, int64_t n, bool erf_form) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    dx[i] = from_f32<T>(to_f32(dout[i]) * gelu_grad(to_f32(x[i]), erf_form));
}

}  // namespace

void gelu_forward(const Tensor& out, const Tensor& x, GeluKind kind) {
  TEMPER_CHECK(out.numel() == x.numel(), "gelu_forward: sizes differ");
  TEMPER_CHECK(out.dtype() == x.dtype(), "gelu_forward (cuda): out and x dtypes differ");
  check_on_cuda(out, "gelu_forward", "out");
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_act(x.dtype(), "gelu_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gelu_forward_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(out), cptr<T>(x), n,
                                                                       kind == GeluKind::Erf);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, GeluKind kind) {
  TEMPER_CHECK(dx.numel() == x.numel() && dout.numel() == x.numel(), "gelu_backward: sizes differ");
  TEMPER_CHECK(dx.dtype() == x.dtype() && dout.dtype() == x.dtype(), "gelu_backward (cuda): dtypes differ");
  check_on_cuda(dx, "gelu_backward", "dx");
  check_on_cuda(dout, "gelu_backward", "dout");
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_act(x.dtype(), "gelu_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    gelu_backward_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(dx), cptr<T>(dout), cptr<T>(x), n,
                                                                        kind == GeluKind::Erf);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
