// CUDA elementwise ops: residual add, in-place add/scale, tanh (bf16 or f32) and dtype casts
// (f32 <-> bf16/f16). Every kernel is a grid-stride loop, one thread per element per step,
// math in f32; no shared memory.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

template <class T>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <class T>
__global__ void scale_kernel(T* x, float s, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) x[i] = from_f32<T>(to_f32(x[i]) * s);
}

template <class T>
__global__ void tanh_kernel(T* out, const T* x, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = from_f32<T>(tanhf(to_f32(x[i])));
}

template <class T>
__global__ void tanh_backward_kernel(T* dx, const T* dout, const T* y, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const float v = to_f32(y[i]);
    dx[i] = from_f32<T>(to_f32(dout[i]) * (1.f - v * v));
  }
}

template <class T>
__global__ void scale_rows_kernel(T* x, const float* s, int64_t n, int64_t c) {
  for (int64_t i = global_thread(); i < n * c; i += grid_threads()) x[i] = from_f32<T>(to_f32(x[i]) * s[i / c]);
}

template <class TO, class TI>
__global__ void cast_kernel(TO* out, const TI* in, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = from_f32<TO>(to_f32(in[i]));
}

}  // namespace

void add(const Tensor& out, const Tensor& a, const Tensor& b) {
  TEMPER_CHECK(out.numel() == a.numel() && a.numel() == b.numel(), "add: sizes differ");
  TEMPER_CHECK(out.dtype() == a.dtype() && a.dtype() == b.dtype(), "add (cuda): dtypes differ");
  check_on_cuda(out, "add", "out");
  check_on_cuda(b, "add", "b");
  const int64_t n = a.numel();
  if (n == 0) return;
  dispatch_act(a.dtype(), "add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(out), cptr<T>(a), cptr<T>(b), n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void add_inplace(const Tensor& a, const Tensor& b) { add(a, a, b); }

void tanh_forward(const Tensor& out, const Tensor& x) {
  check_on_cuda(out, "tanh_forward", "out");
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_act(x.dtype(), "tanh_forward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    tanh_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(out), cptr<T>(x), n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void tanh_backward(const Tensor& dx, const Tensor& dout, const Tensor& y) {
  check_on_cuda(dx, "tanh_backward", "dx");
  check_on_cuda(dout, "tanh_backward", "dout");
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_act(y.dtype(), "tanh_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    tanh_backward_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(dx), cptr<T>(dout), cptr<T>(y), n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void scale_rows(const Tensor& x, const Tensor& s) {
  check_on_cuda(x, "scale_rows", "x");
  const int64_t n = x.dim(0), c = x.dim(1);
  if (n * c == 0) return;
  dispatch_act(x.dtype(), "scale_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scale_rows_kernel<<<grid_for(n * c), kBlock, 0, compute_stream()>>>(mptr<T>(x), cptr<float>(s), n, c);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void scale_inplace(const Tensor& x, float s) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_act(x.dtype(), "scale_inplace", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scale_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<T>(x), s, n);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

void cast(const Tensor& out, const Tensor& in) {
  TEMPER_CHECK(out.numel() == in.numel(), "cast: sizes differ");
  check_on_cuda(out, "cast", "out");
  const int64_t n = in.numel();
  if (in.dtype() == out.dtype()) {
    out.copy_from(in);
    return;
  }
  TEMPER_CHECK(in.dtype() == DType::F32 || out.dtype() == DType::F32, "cast (cuda): {} -> {} is not supported",
               dtype_name(in.dtype()), dtype_name(out.dtype()));
  if (n == 0) return;
  dispatch_float(out.dtype(), "cast", [&](auto to) {
    dispatch_float(in.dtype(), "cast", [&](auto ti) {
      using TO = typename decltype(to)::type;
      using TI = typename decltype(ti)::type;
      cast_kernel<<<grid_for(n), kBlock, 0, compute_stream()>>>(mptr<TO>(out), cptr<TI>(in), n);
      TEMPER_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace temper::cuda
