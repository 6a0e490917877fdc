// CUDA exact causal attention (reference path; a flash kernel replaces it later), bf16 or f32.
// Forward: qkv[B,T,3C] is split into q, k, v [B,NH,T,HS]; preatt = q k^T / sqrt(HS) (f32, batched
// GEMM over B*NH); causal softmax into att[B,NH,T,T] (zero above the diagonal); y = att v;
// y is merged back to out[B,T,C]. Backward follows the CPU reference with batched GEMMs:
// datt = dy v^T (f32), dv = att^T dy, dpre = softmax backward (scaled), dq = dpre k,
// dk = dpre^T q; dqkv is overwritten. Scratch comes from the caching allocator.
// Head split/merge kernels: grid-stride, one thread per element of [B,NH,T,HS].
// Softmax kernels: one warp per row of att (8 rows per 256-thread block), lanes stride over the
// row; warp shuffles only, no shared memory. GEMMs: cublasGemmStridedBatchedEx, CUBLAS_COMPUTE_32F.
#include <climits>
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

struct HeadDims {
  int64_t b = 0, t = 0, nh = 0, hs = 0;
  __host__ __device__ int64_t c() const { return nh * hs; }
  __host__ __device__ int64_t numel() const { return b * nh * t * hs; }
};

// dst[b,h,t,d] = src[(b*T + t) * row_stride + h*HS + d]
template <class T>
__global__ void split_heads_kernel(T* dst, const T* src, int64_t row_stride, HeadDims hd) {
  const int64_t n = hd.numel();
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t d = i % hd.hs, t = (i / hd.hs) % hd.t, h = (i / (hd.hs * hd.t)) % hd.nh;
    const int64_t b = i / (hd.hs * hd.t * hd.nh);
    dst[i] = src[(b * hd.t + t) * row_stride + h * hd.hs + d];
  }
}

// dst[(b*T + t) * row_stride + h*HS + d] = src[b,h,t,d]
template <class T>
__global__ void merge_heads_kernel(T* dst, const T* src, int64_t row_stride, HeadDims hd) {
  const int64_t n = hd.numel();
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t d = i % hd.hs, t = (i / hd.hs) % hd.t, h = (i / (hd.hs * hd.t)) % hd.nh;
    const int64_t b = i / (hd.hs * hd.t * hd.nh);
    dst[(b * hd.t + t) * row_stride + h * hd.hs + d] = src[i];
  }
}

// att[row, :] = causal softmax of preatt[row, :]; row = (b*NH + h)*T + i keeps columns j <= i.
template <class T>
__global__ void causal_softmax_kernel(T* att, const float* preatt, int64_t rows, int t_len) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // whole warp leaves together
  const int i = static_cast<int>(row % t_len);
  const float* p = preatt + row * t_len;
  float m = -INFINITY;
  for (int j = lane; j <= i; j += 32) m = fmaxf(m, p[j]);
  m = warp_reduce(m, MaxOp{});
  float s = 0.f;
  for (int j = lane; j <= i; j += 32) s += expf(p[j] - m);
  const float inv = 1.f / warp_reduce(s, SumOp{});
  T* a = att + row * t_len;
  for (int j = lane; j < t_len; j += 32) a[j] = from_f32<T>(j <= i ? expf(p[j] - m) * inv : 0.f);
}

// dpre[row, j] = att[row, j] * (datt[row, j] - sum_k att[row, k] datt[row, k]) * scale for j <= i, else 0.
template <class T>
__global__ void causal_softmax_backward_kernel(T* dpre, const T* att, const float* datt, int64_t rows, int t_len,
                                               float scale) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int i = static_cast<int>(row % t_len);
  const T* a = att + row * t_len;
  const float* g = datt + row * t_len;
  float dot = 0.f;
  for (int j = lane; j <= i; j += 32) dot += to_f32(a[j]) * g[j];
  dot = warp_reduce(dot, SumOp{});
  T* d = dpre + row * t_len;
  for (int j = lane; j < t_len; j += 32) d[j] = from_f32<T>(j <= i ? to_f32(a[j]) * (g[j] - dot) * scale : 0.f);
}

// Row-major, per (b, h): c_f32[T,T] = alpha * x[T,HS] @ y[T,HS]^T.
void scores(float* c, const void* x, const void* y, cudaDataType_t type, const HeadDims& hd, float alpha) {
  const int t = static_cast<int>(hd.t), hs = static_cast<int>(hd.hs);
  const float beta = 0.f;
  TEMPER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, t, t, hs, &alpha, y, type, hs, hd.t * hd.hs, x, type, hs, hd.t * hd.hs,
      &beta, c, CUDA_R_32F, t, hd.t * hd.t, static_cast<int>(hd.b * hd.nh), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Row-major, per (b, h): c[T,HS] = op(p)[T,T] @ y[T,HS], op = transpose when trans_p.
void probs_times(void* c, const void* p, bool trans_p, const void* y, cudaDataType_t type, const HeadDims& hd) {
  const int t = static_cast<int>(hd.t), hs = static_cast<int>(hd.hs);
  const float alpha = 1.f, beta = 0.f;
  TEMPER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas_handle(), CUBLAS_OP_N, trans_p ? CUBLAS_OP_T : CUBLAS_OP_N, hs,
                                                 t, t, &alpha, y, type, hs, hd.t * hd.hs, p, type, t, hd.t * hd.t,
                                                 &beta, c, type, hs, hd.t * hd.hs, static_cast<int>(hd.b * hd.nh),
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

template <class T>
void split(const Tensor& dst, const T* src, int64_t row_stride, const HeadDims& hd) {
  split_heads_kernel<<<grid_for(hd.numel()), kBlock, 0, compute_stream()>>>(mptr<T>(dst), src, row_stride, hd);
  TEMPER_CUDA_LAUNCH_CHECK();
}

template <class T>
void merge(T* dst, const Tensor& src, int64_t row_stride, const HeadDims& hd) {
  merge_heads_kernel<<<grid_for(hd.numel()), kBlock, 0, compute_stream()>>>(dst, cptr<T>(src), row_stride, hd);
  TEMPER_CUDA_LAUNCH_CHECK();
}

unsigned softmax_blocks(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

HeadDims head_dims(const Tensor& qkv, int n_head) {
  TEMPER_CHECK(qkv.ndim() == 3 && n_head > 0, "attention (cuda): qkv must be [B,T,3C] and n_head > 0");
  const int64_t b = qkv.dim(0), t = qkv.dim(1), c3 = qkv.dim(2), c = c3 / 3, hs = c / n_head;
  TEMPER_CHECK(c3 == 3 * c && hs * n_head == c, "attention: C={} not divisible by {} heads", c, n_head);
  TEMPER_CHECK(t <= 65536 && t * t * b * n_head <= (int64_t{1} << 40) && b * n_head <= INT_MAX,
               "attention (cuda): B={} T={} NH={} too large for the reference path", b, t, n_head);
  return HeadDims{b, t, n_head, hs};
}

template <class T>
void attention_forward_impl(const Tensor& out, const Tensor& att, const Tensor& qkv, const HeadDims& hd) {
  const DType dt = qkv.dtype();
  const Shape heads{hd.b, hd.nh, hd.t, hd.hs};
  Tensor q = Tensor::empty(heads, dt, Device::Cuda), k = Tensor::empty(heads, dt, Device::Cuda);
  Tensor v = Tensor::empty(heads, dt, Device::Cuda), y = Tensor::empty(heads, dt, Device::Cuda);
  Tensor preatt = Tensor::empty({hd.b, hd.nh, hd.t, hd.t}, DType::F32, Device::Cuda);
  const T* x = cptr<T>(qkv);
  const int64_t c = hd.c();
  split(q, x, 3 * c, hd);
  split(k, x + c, 3 * c, hd);
  split(v, x + 2 * c, 3 * c, hd);
  scores(mptr<float>(preatt), q.raw(), k.raw(), cuda_dtype(dt), hd, 1.f / std::sqrt(static_cast<float>(hd.hs)));
  const int64_t rows = hd.b * hd.nh * hd.t;
  causal_softmax_kernel<<<softmax_blocks(rows), 32 * kWarpsPerBlock, 0, compute_stream()>>>(
      mptr<T>(att), cptr<float>(preatt), rows, static_cast<int>(hd.t));
  TEMPER_CUDA_LAUNCH_CHECK();
  probs_times(y.raw(), att.raw(), false, v.raw(), cuda_dtype(dt), hd);
  merge(mptr<T>(out), y, c, hd);
}

template <class T>
void attention_backward_impl(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att,
                             const HeadDims& hd) {
  const DType dt = qkv.dtype();
  const cudaDataType_t type = cuda_dtype(dt);
  const Shape heads{hd.b, hd.nh, hd.t, hd.hs}, scores_shape{hd.b, hd.nh, hd.t, hd.t};
  Tensor q = Tensor::empty(heads, dt, Device::Cuda), k = Tensor::empty(heads, dt, Device::Cuda);
  Tensor v = Tensor::empty(heads, dt, Device::Cuda), dy = Tensor::empty(heads, dt, Device::Cuda);
  const T* x = cptr<T>(qkv);
  const int64_t c = hd.c();
  split(q, x, 3 * c, hd);
  split(k, x + c, 3 * c, hd);
  split(v, x + 2 * c, 3 * c, hd);
  split(dy, cptr<T>(dout), c, hd);
  Tensor datt = Tensor::empty(scores_shape, DType::F32, Device::Cuda);
  Tensor dpre = Tensor::empty(scores_shape, dt, Device::Cuda);
  scores(mptr<float>(datt), dy.raw(), v.raw(), type, hd, 1.f);
  const int64_t rows = hd.b * hd.nh * hd.t;
  causal_softmax_backward_kernel<<<softmax_blocks(rows), 32 * kWarpsPerBlock, 0, compute_stream()>>>(
      mptr<T>(dpre), cptr<T>(att), cptr<float>(datt), rows, static_cast<int>(hd.t),
      1.f / std::sqrt(static_cast<float>(hd.hs)));
  TEMPER_CUDA_LAUNCH_CHECK();
  Tensor dq = Tensor::empty(heads, dt, Device::Cuda), dk = Tensor::empty(heads, dt, Device::Cuda);
  Tensor dv = Tensor::empty(heads, dt, Device::Cuda);
  probs_times(dv.raw(), att.raw(), true, dy.raw(), type, hd);
  probs_times(dq.raw(), dpre.raw(), false, k.raw(), type, hd);
  probs_times(dk.raw(), dpre.raw(), true, q.raw(), type, hd);
  T* dx = mptr<T>(dqkv);
  merge(dx, dq, 3 * c, hd);
  merge(dx + c, dk, 3 * c, hd);
  merge(dx + 2 * c, dv, 3 * c, hd);
}

}  // namespace

void attention_forward(const Tensor& out, const Tensor& att, const Tensor& qkv, int n_head) {
  const HeadDims hd = head_dims(qkv, n_head);
  check_shape(out, {hd.b, hd.t, hd.c()}, "attention_forward", "out");
  check_shape(att, {hd.b, hd.nh, hd.t, hd.t}, "attention_forward", "att");
  TEMPER_CHECK(out.dtype() == qkv.dtype() && att.dtype() == qkv.dtype(),
               "attention_forward (cuda): out, att, qkv must share a dtype");
  check_on_cuda(out, "attention_forward", "out");
  check_on_cuda(att, "attention_forward", "att");
  if (hd.numel() == 0) return;
  dispatch_act(qkv.dtype(), "attention_forward",
               [&](auto tag) { attention_forward_impl<typename decltype(tag)::type>(out, att, qkv, hd); });
}

void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att, int n_head) {
  const HeadDims hd = head_dims(qkv, n_head);
  check_shape(dqkv, qkv.shape(), "attention_backward", "dqkv");
  check_shape(dout, {hd.b, hd.t, hd.c()}, "attention_backward", "dout");
  check_shape(att, {hd.b, hd.nh, hd.t, hd.t}, "attention_backward", "att");
  TEMPER_CHECK(dqkv.dtype() == qkv.dtype() && dout.dtype() == qkv.dtype() && att.dtype() == qkv.dtype(),
               "attention_backward (cuda): dqkv, dout, qkv, att must share a dtype");
  for (const Tensor* p : {&dqkv, &dout, &att}) check_on_cuda(*p, "attention_backward", "operand");
  if (hd.numel() == 0) return;
  dispatch_act(qkv.dtype(), "attention_backward",
               [&](auto tag) { attention_backward_impl<typename decltype(tag)::type>(dqkv, dout, qkv, att, hd); });
}

}  // namespace temper::cuda
