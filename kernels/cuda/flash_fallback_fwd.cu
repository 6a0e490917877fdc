// Generic flash-attention forward: any dtype (f32, bf16, f16), any head size 1..256, any
// alignment and stride. The path for what the tensor-core kernels do not take; simple over fast.
//
// Threads -> data: one warp per query row (b, h, i), rows numbered (b*NH + h)*T + i (the lse
// index), 8 warps per 256-thread block, so a block's warps share one head's keys in cache. Lane
// `lane` owns dimensions e = lane + 32r (r < kR = ceil(HS/32) rounded up to 1, 2, 4 or 8): its
// slice of the query row (pre-scaled) and of the f32 output accumulator stay in registers. The
// warp walks the row's visible keys one at a time: score = warp_reduce of the partial dots, then
// an online-softmax update (running max m, running sum l, output rescaled by exp(m_old - m_new)).
// No shared memory, no tiling: K and V rows are read straight from global memory (coalesced
// across the lanes of a row).
#include <climits>
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/flash_paths.h"

namespace temper::cuda {
namespace {

constexpr int kFallbackWarps = 8;
constexpr int64_t kFallbackMaxHs = 256;

struct FallbackParams {
  const void *q, *k, *v;
  void* out;
  float* lse;                  // [B,NH,T]
  const int32_t* key_lengths;  // [B] or null
  int64_t q_stride, kv_stride, o_stride;
  int64_t t, nh, group, hs, rows;  // rows = B*NH*T
  float scale;
  bool causal;
};

// Keys [0, n) that query i of sequence b sees.
__device__ int64_t visible_keys(const FallbackParams& p, int64_t i, int64_t b) {
  int64_t n = p.causal ? i + 1 : p.t;
  if (p.key_lengths) n = min(n, static_cast<int64_t>(max(0, p.key_lengths[b])));
  return n;
}

template <class T, int kR>
__device__ void load_row(float (&x)[kR], const T* row, int64_t hs, float mul, int lane) {
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    const int64_t e = lane + 32 * r;
    x[r] = e < hs ? to_f32(row[e]) * mul : 0.f;
  }
}

template <class T, int kR>
__global__ void __launch_bounds__(32 * kFallbackWarps) flash_fwd_fallback_kernel(const FallbackParams p) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kFallbackWarps + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (row >= p.rows) return;  // the whole warp leaves together
  const int64_t i = row % p.t, bh = row / p.t, h = bh % p.nh, b = bh / p.nh;
  const int64_t n = visible_keys(p, i, b);
  const int64_t kv_off = b * p.t * p.kv_stride + (h / p.group) * p.hs;
  const T* k = static_cast<const T*>(p.k) + kv_off;
  const T* v = static_cast<const T*>(p.v) + kv_off;
  float q[kR], acc[kR] = {};
  load_row<T, kR>(q, static_cast<const T*>(p.q) + (b * p.t + i) * p.q_stride + h * p.hs, p.hs, p.scale, lane);
  float m = -INFINITY, l = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    float kr[kR], vr[kR];
    load_row<T, kR>(kr, k + j * p.kv_stride, p.hs, 1.f, lane);
    load_row<T, kR>(vr, v + j * p.kv_stride, p.hs, 1.f, lane);
    float dot = 0.f;
#pragma unroll
    for (int r = 0; r < kR; ++r) dot += q[r] * kr[r];
    const float s = warp_reduce(dot, SumOp{});
    const float m_new = fmaxf(m, s);
    const float m_ref = m_new == -INFINITY ? 0.f : m_new;  // only for -inf scores: keeps NaN out
    const float alpha = expf(m - m_ref), pj = expf(s - m_ref);
    l = l * alpha + pj;
#pragma unroll
    for (int r = 0; r < kR; ++r) acc[r] = acc[r] * alpha + pj * vr[r];
    m = m_new;
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;
  T* out = static_cast<T*>(p.out) + (b * p.t + i) * p.o_stride + h * p.hs;
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    const int64_t e = lane + 32 * r;
    if (e < p.hs) out[e] = from_f32<T>(acc[r] * inv);
  }
  if (lane == 0) p.lse[row] = l > 0.f ? m + logf(l) : INFINITY;
}

FallbackParams fallback_params(const FlashAttnArgs& a) {
  FallbackParams p;
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.lse = a.lse;
  p.key_lengths = a.key_lengths;
  p.q_stride = a.q_stride;
  p.kv_stride = a.kv_stride;
  p.o_stride = a.o_stride;
  p.t = a.t;
  p.nh = a.nh;
  p.group = a.group();
  p.hs = a.hs;
  p.rows = a.b * a.nh * a.t;
  p.scale = a.scale;
  p.causal = a.causal;
  return p;
}

template <class T, int kR>
void launch_fallback(const FallbackParams& p) {
  const int64_t blocks = (p.rows + kFallbackWarps - 1) / kFallbackWarps;
  flash_fwd_fallback_kernel<T, kR><<<static_cast<unsigned>(blocks), 32 * kFallbackWarps, 0, compute_stream()>>>(p);
  TEMPER_CUDA_LAUNCH_CHECK();
}

// kR = dimensions per lane: HS <= 32 -> 1, <= 64 -> 2, <= 128 -> 4, <= 256 -> 8.
template <class T>
void launch_fallback_hs(const FallbackParams& p) {
  if (p.hs <= 32) {
    launch_fallback<T, 1>(p);
  } else if (p.hs <= 64) {
    launch_fallback<T, 2>(p);
  } else if (p.hs <= 128) {
    launch_fallback<T, 4>(p);
  } else {
    launch_fallback<T, 8>(p);
  }
}

}  // namespace

void flash_forward_fallback(const FlashAttnArgs& a) {
  TEMPER_CHECK(a.hs <= kFallbackMaxHs, "flash attention: head size > 256 is not supported (HS = {})", a.hs);
  const FallbackParams p = fallback_params(a);
  TEMPER_CHECK(p.rows / kFallbackWarps < INT_MAX, "flash_attention_forward (cuda): B={} T={} NH={} exceed the grid",
               a.b, a.t, a.nh);
  dispatch_float(a.dtype, "flash_attention_forward",
                 [&](auto tag) { launch_fallback_hs<typename decltype(tag)::type>(p); });
}

}  // namespace temper::cuda
