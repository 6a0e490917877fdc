// CUDA rotary embedding (rotate_half convention), in place on x[B,T,H,HS], bf16 or f32 storage,
// f32 tables and math. Grid-stride loop over the B*T*H*(HS/2) pairs: one thread rotates element
// i < HS/2 of a head together with element i + HS/2 (both read before either is written, so the
// update is in place without races); no shared memory. Backward applies the transposed rotation.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

// sign = +1: (x1, x2) -> (x1 c - x2 s, x2 c + x1 s); sign = -1: the transpose.
template <class T>
__global__ void rope_kernel(T* x, const float* cos, const float* sin, int64_t pairs, int64_t t_len, int64_t heads,
                            int64_t half, float sign) {
  for (int64_t p = global_thread(); p < pairs; p += grid_threads()) {
    const int64_t i = p % half, head_row = p / half;  // head_row = (b*T + t)*H + h
    const int64_t t = (head_row / heads) % t_len;
    const float c = cos[t * half + i], s = sign * sin[t * half + i];
    T* head = x + head_row * 2 * half;
    const float x1 = to_f32(head[i]), x2 = to_f32(head[i + half]);
    head[i] = from_f32<T>(x1 * c - x2 * s);
    head[i + half] = from_f32<T>(x2 * c + x1 * s);
  }
}

void rope_apply(const Tensor& x, const Tensor& cos, const Tensor& sin, float sign, const char* op) {
  TEMPER_CHECK(x.ndim() == 4, "{}: x must be [B,T,H,HS], got {}", op, shape_str(x.shape()));
  const int64_t t = x.dim(1), h = x.dim(2), hs = x.dim(3), half = hs / 2;
  TEMPER_CHECK(hs % 2 == 0, "{}: head size {} must be even", op, hs);
  TEMPER_CHECK(cos.ndim() == 2 && cos.dim(1) == half && cos.dim(0) >= t && cos.shape() == sin.shape(),
               "{}: cos {} / sin {} must be [>={}, {}]", op, shape_str(cos.shape()), shape_str(sin.shape()), t, half);
  check_dtype(cos, DType::F32, op, "cos");
  check_dtype(sin, DType::F32, op, "sin");
  for (const Tensor* p : {&x, &cos, &sin}) check_on_cuda(*p, op, "operand");
  const int64_t pairs = x.numel() / 2;
  if (pairs == 0) return;
  dispatch_act(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_kernel<<<grid_for(pairs), kBlock, 0, compute_stream()>>>(mptr<T>(x), cptr<float>(cos), cptr<float>(sin), pairs,
                                                                  t, h, half, sign);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace

void rope_forward(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  rope_apply(x, cos, sin, 1.f, "rope_forward");
}

void rope_backward(const Tensor& d, const Tensor& cos, const Tensor& sin) {
  rope_apply(d, cos, sin, -1.f, "rope_backward");
}

}  // namespace temper::cuda
