// CUDA SwiGLU (Llama MLP gating): out = silu(gate) * up, and its gradients, bf16 or f32 storage,
// f32 math. Grid-stride loops, one thread per element per step; no shared memory. Each element
// reads all its inputs before writing, so gradients may alias dout, gate or up.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

__device__ __forceinline__ float sigmoid(float v) { return 1.f / (1.f + expf(-v)); }

template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* gate, const T* up, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const float g = to_f32(gate[i]);
    out[i] = from_f32<T>(g * sigmoid(g) * to_f32(up[i]));
  }
}

template <class T>
__global__ void swiglu_backward_kernel(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const float g = to_f32(gate[i]), u = to_f32(up[i]), d = to_f32(dout[i]), s = sigmoid(g);
    dgate[i] = from_f32<T>(d * u * s * (1.f + g * (1.f - s)));
    dup[i] = from_f32<T>(d * g * s);
  }
}

}  // namespace

void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) {
  TEMPER_CHECK(out.numel() == gate.numel() && up.numel() == gate.numel(), "swiglu_forward: sizes differ");
  TEMPER_CHECK(out.dtype() == gate.dtype() && up.dtype() == gate.dtype(), "swiglu_forward (cuda): dtypes differ");
  for (const Tensor* t : {&out, &gate, &up}) check_on_cuda(*t, "swiglu_forward", "operand");
  const int64_t n = gate.numel();
  if (n == 0) return;
  dispatch_act(gate.dtype(), "swiglu_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_forward_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(out), cptr<T>(gate), cptr<T>(up), n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate, const Tensor& up) {
  const int64_t n = gate.numel();
  TEMPER_CHECK(dgate.numel() == n && dup.numel() == n && dout.numel() == n && up.numel() == n,
               "swiglu_backward: sizes differ");
  const DType dt = gate.dtype();
  TEMPER_CHECK(dgate.dtype() == dt && dup.dtype() == dt && dout.dtype() == dt && up.dtype() == dt,
               "swiglu_backward (cuda): dtypes differ");
  for (const Tensor* t : {&dgate, &dup, &dout, &gate, &up}) check_on_cuda(*t, "swiglu_backward", "operand");
  if (n == 0) return;
  dispatch_act(dt, "swiglu_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_backward_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(dgate), mptr<T>(dup), cptr<T>(dout),
                                                                         cptr<T>(gate), cptr<T>(up), n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
