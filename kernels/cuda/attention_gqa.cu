// CUDA grouped-query attention (Llama, Mistral, Qwen2: causal; BERT: bidirectional with per-sequence
// key lengths; reference path, bf16 or f32).
// q[B,T,NH*HS] is split into [B,NH,T,HS] and k, v[B,T,NKV*HS] into [B,NKV,T,HS]. Query head h
// uses kv head h / G (G = NH/NKV), so the G query heads of one kv head are adjacent: viewed as
// [B*NKV, G*T, HS], each kv head's queries form one GEMM operand and no kv copy is repeated.
// Forward: preatt[B*NKV, G*T, T] = q k^T / sqrt(HS) (f32, one strided-batched GEMM over B*NKV);
// masked softmax per row into att[B,NH,T,T] (row (b*NH + h)*T + i keeps the keys j < visible(i, b):
// j <= i when causal, j < key_lengths[b] when lengths are given; a row seeing none is zeros);
// y = att v; y merged back into out. Backward: datt = dy v^T (f32); dv = att^T dy and
// dk = dpre^T q contract over G*T, so the sums over the query heads sharing a kv head come out of
// the GEMM itself (no atomics, deterministic); dq = dpre k. dq, dk, dv are overwritten.
// Split/merge kernels: grid-stride, one thread per element of [B,heads,T,HS]. Softmax kernels: one
// warp per row of att (8 rows per 256-thread block), warp shuffles only, no shared memory.
// GEMMs: cublasGemmStridedBatchedEx, CUBLAS_COMPUTE_32F. Scratch from the caching allocator.
#include <climits>
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace temper::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

struct GqaDims {
  int64_t b = 0, t = 0, nh = 0, nkv = 0, hs = 0;
  int64_t group() const { return nh / nkv; }
  int64_t batches() const { return b * nkv; }  // GEMM batch count
  int64_t rows() const { return b * nh * t; }  // rows of att
};

struct HeadLayout {  // [B, heads, T, HS] <-> [B, T, heads*HS]
  int64_t b, t, heads, hs;
  __host__ __device__ int64_t numel() const { return b * heads * t * hs; }
};

// dst[b,h,t,d] = src[((b*T + t)*heads + h)*HS + d]
template <class T>
__global__ void split_heads_kernel(T* dst, const T* src, HeadLayout l) {
  const int64_t n = l.numel();
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t d = i % l.hs, t = (i / l.hs) % l.t, h = (i / (l.hs * l.t)) % l.heads;
    const int64_t b = i / (l.hs * l.t * l.heads);
    dst[i] = src[((b * l.t + t) * l.heads + h) * l.hs + d];
  }
}

// dst[((b*T + t)*heads + h)*HS + d] = src[b,h,t,d]
template <class T>
__global__ void merge_heads_kernel(T* dst, const T* src, HeadLayout l) {
  const int64_t n = l.numel();
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t d = i % l.hs, t = (i / l.hs) % l.t, h = (i / (l.hs * l.t)) % l.heads;
    const int64_t b = i / (l.hs * l.t * l.heads);
    dst[((b * l.t + t) * l.heads + h) * l.hs + d] = src[i];
  }
}

// The mask as the softmax kernels see it: rows of att are (b * NH + h) * T + i.
struct RowMask {
  bool causal;
  const int32_t* key_lengths;  // [B] or null
  int64_t rows_per_batch;      // NH * T
  __device__ int visible(int64_t row, int t_len) const {
    int n = causal ? static_cast<int>(row % t_len) + 1 : t_len;
    if (key_lengths) n = min(n, max(0, key_lengths[row / rows_per_batch]));
    return n;
  }
};

// att[row, :] = softmax of preatt[row, :] over the visible keys j < n, zeros elsewhere.
template <class T>
__global__ void gqa_softmax_kernel(T* att, const float* preatt, int64_t rows, int t_len, RowMask mask) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // whole warp leaves together
  const int n = mask.visible(row, t_len);
  const float* p = preatt + row * t_len;
  float m = -INFINITY;
  for (int j = lane; j < n; j += 32) m = fmaxf(m, p[j]);
  m = warp_reduce(m, MaxOp{});
  float s = 0.f;
  for (int j = lane; j < n; j += 32) s += expf(p[j] - m);
  s = warp_reduce(s, SumOp{});
  const float inv = n > 0 ? 1.f / s : 0.f;
  T* a = att + row * t_len;
  for (int j = lane; j < t_len; j += 32) a[j] = from_f32<T>(j < n ? expf(p[j] - m) * inv : 0.f);
}

// dpre[row, j] = att[row, j] * (datt[row, j] - sum_k att[row, k] datt[row, k]) * scale for j < n, else 0.
template <class T>
__global__ void gqa_softmax_backward_kernel(T* dpre, const T* att, const float* datt, int64_t rows, int t_len,
                                            float scale, RowMask mask) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int n = mask.visible(row, t_len);
  const T* a = att + row * t_len;
  const float* g = datt + row * t_len;
  float dot = 0.f;
  for (int j = lane; j < n; j += 32) dot += to_f32(a[j]) * g[j];
  dot = warp_reduce(dot, SumOp{});
  T* d = dpre + row * t_len;
  for (int j = lane; j < t_len; j += 32) d[j] = from_f32<T>(j < n ? to_f32(a[j]) * (g[j] - dot) * scale : 0.f);
}

RowMask row_mask(const AttentionMask& mask, int64_t nh, int64_t t) {
  const Tensor& l = mask.key_lengths;
  return {mask.causality == AttnCausality::Causal, l.defined() ? static_cast<const int32_t*>(l.raw()) : nullptr,
          nh * t};
}

// One row-major operand of a strided-batched GEMM: rows x cols per batch entry, `stride` apart.
struct Operand {
  const void* data;
  cudaDataType_t type;
  int64_t rows, cols, stride;
};

// Row-major per batch entry: c[M,N] = alpha * op(a) @ op(b), op = transpose when the flag is set.
// cuBLAS is column-major, so it computes c^T = op(b)^T op(a)^T with the operands swapped.
void gemm_rm(void* c, cudaDataType_t c_type, int64_t c_stride, const Operand& a, bool trans_a, const Operand& b,
             bool trans_b, float alpha, int64_t batches) {
  const int64_t m = trans_a ? a.cols : a.rows, k = trans_a ? a.rows : a.cols, n = trans_b ? b.rows : b.cols;
  TEMPER_CHECK((trans_b ? b.cols : b.rows) == k, "attention_gqa (cuda): GEMM inner dimensions differ");
  const float beta = 0.f;
  TEMPER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &alpha, b.data, b.type, static_cast<int>(b.cols), b.stride, a.data,
      a.type, static_cast<int>(a.cols), a.stride, &beta, c, c_type, static_cast<int>(n), c_stride,
      static_cast<int>(batches), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// The operands, per kv head (batch entry): queries [G*T, HS], keys/values [T, HS], scores [G*T, T].
Operand queries(const Tensor& t, const GqaDims& d) {
  return {t.raw(), cuda_dtype(t.dtype()), d.group() * d.t, d.hs, d.group() * d.t * d.hs};
}
Operand keys(const Tensor& t, const GqaDims& d) { return {t.raw(), cuda_dtype(t.dtype()), d.t, d.hs, d.t * d.hs}; }
Operand scores(const Tensor& t, const GqaDims& d) {
  return {t.raw(), cuda_dtype(t.dtype()), d.group() * d.t, d.t, d.group() * d.t * d.t};
}

template <class T>
Tensor split(const Tensor& src, int64_t heads, const GqaDims& d) {
  const HeadLayout l{d.b, d.t, heads, d.hs};
  Tensor dst = Tensor::empty({d.b, heads, d.t, d.hs}, src.dtype(), Device::Cuda);
  split_heads_kernel<<<grid_for(l.numel()), kBlock, 0, compute_stream()>>>(mptr<T>(dst), cptr<T>(src), l);
  TEMPER_CUDA_LAUNCH_CHECK();
  return dst;
}

template <class T>
void merge(const Tensor& dst, const Tensor& src, int64_t heads, const GqaDims& d) {
  const HeadLayout l{d.b, d.t, heads, d.hs};
  merge_heads_kernel<<<grid_for(l.numel()), kBlock, 0, compute_stream()>>>(mptr<T>(dst), cptr<T>(src), l);
  TEMPER_CUDA_LAUNCH_CHECK();
}

unsigned softmax_blocks(int64_t rows) { return static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

float attention_scale(const GqaDims& d) { return 1.f / std::sqrt(static_cast<float>(d.hs)); }

template <class T>
void forward_impl(const Tensor& out, const Tensor& att, const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                  const GqaDims& d, const AttentionMask& mask) {
  const Tensor q = split<T>(q_in, d.nh, d), k = split<T>(k_in, d.nkv, d), v = split<T>(v_in, d.nkv, d);
  const Tensor preatt = Tensor::empty({d.b, d.nh, d.t, d.t}, DType::F32, Device::Cuda);
  gemm_rm(preatt.raw(), CUDA_R_32F, d.group() * d.t * d.t, queries(q, d), false, keys(k, d), true, attention_scale(d),
          d.batches());
  gqa_softmax_kernel<<<softmax_blocks(d.rows()), 32 * kWarpsPerBlock, 0, compute_stream()>>>(
      mptr<T>(att), cptr<float>(preatt), d.rows(), static_cast<int>(d.t), row_mask(mask, d.nh, d.t));
  TEMPER_CUDA_LAUNCH_CHECK();
  const Tensor y = Tensor::empty(q.shape(), q.dtype(), Device::Cuda);
  gemm_rm(y.raw(), cuda_dtype(y.dtype()), d.group() * d.t * d.hs, scores(att, d), false, keys(v, d), false, 1.f,
          d.batches());
  merge<T>(out, y, d.nh, d);
}

template <class T>
void backward_impl(const Tensor& dq_out, const Tensor& dk_out, const Tensor& dv_out, const Tensor& dout,
                   const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& att, const GqaDims& d,
                   const AttentionMask& mask) {
  const Tensor q = split<T>(q_in, d.nh, d), k = split<T>(k_in, d.nkv, d), v = split<T>(v_in, d.nkv, d);
  const Tensor dy = split<T>(dout, d.nh, d);
  const cudaDataType_t type = cuda_dtype(q.dtype());
  const Tensor datt = Tensor::empty(att.shape(), DType::F32, Device::Cuda);
  gemm_rm(datt.raw(), CUDA_R_32F, d.group() * d.t * d.t, queries(dy, d), false, keys(v, d), true, 1.f, d.batches());
  const Tensor dpre = Tensor::empty(att.shape(), att.dtype(), Device::Cuda);
  gqa_softmax_backward_kernel<<<softmax_blocks(d.rows()), 32 * kWarpsPerBlock, 0, compute_stream()>>>(
      mptr<T>(dpre), cptr<T>(att), cptr<float>(datt), d.rows(), static_cast<int>(d.t), attention_scale(d),
      row_mask(mask, d.nh, d.t));
  TEMPER_CUDA_LAUNCH_CHECK();
  const Tensor dq = Tensor::empty(q.shape(), q.dtype(), Device::Cuda);
  const Tensor dk = Tensor::empty(k.shape(), k.dtype(), Device::Cuda),
               dv = Tensor::empty(v.shape(), v.dtype(), Device::Cuda);
  gemm_rm(dv.raw(), type, d.t * d.hs, scores(att, d), true, queries(dy, d), false, 1.f, d.batches());
  gemm_rm(dq.raw(), type, d.group() * d.t * d.hs, scores(dpre, d), false, keys(k, d), false, 1.f, d.batches());
  gemm_rm(dk.raw(), type, d.t * d.hs, scores(dpre, d), true, queries(q, d), false, 1.f, d.batches());
  merge<T>(dq_out, dq, d.nh, d);
  merge<T>(dk_out, dk, d.nkv, d);
  merge<T>(dv_out, dv, d.nkv, d);
}

// q[B,T,NH*HS], k/v[B,T,NKV*HS], all of one activation dtype on the GPU.
GqaDims gqa_dims(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, int n_kv_head, const char* op) {
  TEMPER_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0,
               "{}: n_head {} must be a positive multiple of n_kv_head {}", op, n_head, n_kv_head);
  TEMPER_CHECK(q.ndim() == 3, "{}: q must be [B,T,NH*HS], got {}", op, shape_str(q.shape()));
  const GqaDims d{q.dim(0), q.dim(1), n_head, n_kv_head, q.dim(2) / n_head};
  TEMPER_CHECK(d.hs > 0 && d.hs * n_head == q.dim(2), "{}: q width {} is not {} heads of a positive size", op, q.dim(2),
               n_head);
  check_shape(k, {d.b, d.t, d.nkv * d.hs}, op, "k");
  check_shape(v, {d.b, d.t, d.nkv * d.hs}, op, "v");
  TEMPER_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), "{} (cuda): q, k, v must share a dtype", op);
  for (const Tensor* p : {&q, &k, &v}) check_on_cuda(*p, op, "operand");
  // cuBLAS takes int dimensions (G*T rows per batch entry, B*NKV entries); the softmax grid has
  // one warp per row of att.
  TEMPER_CHECK(d.t <= 65536 && d.group() * d.t <= INT_MAX && d.hs <= INT_MAX && d.batches() <= INT_MAX &&
                   d.rows() * d.t <= (int64_t{1} << 40) && d.rows() / kWarpsPerBlock < INT_MAX,
               "{} (cuda): B={} T={} NH={} too large for the reference path", op, d.b, d.t, d.nh);
  return d;
}

}  // namespace

void attention_forward_gqa(const Tensor& out, const Tensor& att, const Tensor& q, const Tensor& k, const Tensor& v,
                           int n_head, int n_kv_head, const AttentionMask& mask) {
  const char* op = "attention_forward_gqa";
  const GqaDims d = gqa_dims(q, k, v, n_head, n_kv_head, op);
  check_shape(out, q.shape(), op, "out");
  check_shape(att, {d.b, d.nh, d.t, d.t}, op, "att");
  TEMPER_CHECK(out.dtype() == q.dtype() && att.dtype() == q.dtype(), "{} (cuda): out, att, q must share a dtype", op);
  check_on_cuda(out, op, "out");
  check_on_cuda(att, op, "att");
  if (d.b == 0 || d.t == 0) return;
  dispatch_act(q.dtype(), op,
               [&](auto tag) { forward_impl<typename decltype(tag)::type>(out, att, q, k, v, d, mask); });
}

void attention_backward_gqa(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                            const Tensor& k, const Tensor& v, const Tensor& att, int n_head, int n_kv_head,
                            const AttentionMask& mask) {
  const char* op = "attention_backward_gqa";
  const GqaDims d = gqa_dims(q, k, v, n_head, n_kv_head, op);
  check_shape(dq, q.shape(), op, "dq");
  check_shape(dk, k.shape(), op, "dk");
  check_shape(dv, v.shape(), op, "dv");
  check_shape(dout, q.shape(), op, "dout");
  check_shape(att, {d.b, d.nh, d.t, d.t}, op, "att");
  for (const Tensor* p : {&dq, &dk, &dv, &dout, &att}) {
    TEMPER_CHECK(p->dtype() == q.dtype(), "{} (cuda): gradients, dout and att must share q's dtype", op);
    check_on_cuda(*p, op, "operand");
  }
  if (d.b == 0 || d.t == 0) return;
  dispatch_act(q.dtype(), op,
               [&](auto tag) { backward_impl<typename decltype(tag)::type>(dq, dk, dv, dout, q, k, v, att, d, mask); });
}

}  // namespace temper::cuda
