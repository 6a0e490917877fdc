// Generic flash-attention backward: any head size up to 256, f32/bf16/f16, any row stride or
// alignment, deterministic (every output element has exactly one writer, no atomics). Probabilities
// are recomputed from q, k and the forward's lse: p_ij = exp(scale q_i.k_j - lse_i), and with
// D_i = dout_i.o_i (precomputed by flash_bwd.cu), ds_ij = p_ij (dout_i.v_j - D_i).
// Two kernels, both one warp per output row, lanes splitting the head dims (lane l holds dims
// l, l+32, ... < HS, at most 8 per lane), dot products by warp shuffles, no shared memory:
//   dk/dv kernel: warp per (b, kv head g, key j); loops over the query heads of g's group and the
//                 queries i that see j (causal: i >= j); dk_j = scale sum ds_ij q_i, dv_j = sum p_ij dout_i.
//   dq kernel:    warp per (b, head h, query i); loops over the keys j it sees; dq_i = scale sum ds_ij k_j.
// Rows nobody sees (keys past the key length, queries that see no key) are written as zeros.
#include <climits>
#include <cmath>

#include "kernels/cuda/flash_bwd.cuh"

namespace temper::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kMaxDimsPerLane = 8;  // 8 * 32 = 256 = the largest head size

// One head row of HS values spread over the lanes of a warp: v[c] is dim lane + 32 c.
struct LaneRow {
  float v[kMaxDimsPerLane];
};

template <class T>
__device__ __forceinline__ LaneRow load_row(const T* p, int hs, int lane) {
  LaneRow r;
#pragma unroll
  for (int c = 0; c < kMaxDimsPerLane; ++c) {
    const int e = lane + 32 * c;
    r.v[c] = e < hs ? to_f32(p[e]) : 0.f;
  }
  return r;
}

template <class T>
__device__ __forceinline__ void store_row(T* p, const LaneRow& r, float scale, int hs, int lane) {
#pragma unroll
  for (int c = 0; c < kMaxDimsPerLane; ++c) {
    const int e = lane + 32 * c;
    if (e < hs) p[e] = from_f32<T>(scale * r.v[c]);
  }
}

// Sum over the warp of x . y (zeros beyond HS contribute nothing); every lane gets the result.
__device__ __forceinline__ float warp_dot(const LaneRow& x, const LaneRow& y) {
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < kMaxDimsPerLane; ++c) s += x.v[c] * y.v[c];
  return warp_reduce(s, SumOp{});
}

__device__ __forceinline__ void axpy(LaneRow& acc, float alpha, const LaneRow& x) {
#pragma unroll
  for (int c = 0; c < kMaxDimsPerLane; ++c) acc.v[c] += alpha * x.v[c];
}

// The problem in the index form the kernels use (strides in elements).
template <class T>
struct BwdOperands {
  const T *q, *k, *v, *dout;
  T *dq, *dk, *dv;
  int64_t q_stride, kv_stride, o_stride, dq_stride, dkv_stride;
  int64_t b, t, nh, nkv, hs;
  float scale;
  const float* lse;  // [B,NH,T], natural log
  FlashBwdRows rows;
  FlashKeyMask mask;
  __device__ int64_t row(int64_t bi, int64_t ti) const { return bi * t + ti; }
};

// dk, dv of key j of kv head g of sequence bi: one warp (whole warps leave together).
template <class T>
__global__ void flash_bwd_fallback_dkdv_kernel(BwdOperands<T> p) {
  const int lane = threadIdx.x % 32;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (w >= p.b * p.nkv * p.t) return;
  const int64_t j = w % p.t, g = (w / p.t) % p.nkv, bi = w / (p.t * p.nkv);
  const int hs = static_cast<int>(p.hs);
  LaneRow dk = {}, dv = {};
  if (j < p.mask.key_limit(bi)) {  // otherwise no query sees key j: zero gradients
    const LaneRow kr = load_row(p.k + p.row(bi, j) * p.kv_stride + g * p.hs, hs, lane);
    const LaneRow vr = load_row(p.v + p.row(bi, j) * p.kv_stride + g * p.hs, hs, lane);
    const int64_t group = p.nh / p.nkv;
    for (int64_t h = g * group; h < (g + 1) * group; ++h) {
      // Every query i >= j (causal) or every query (not causal) sees j, since j < key_limit.
      for (int64_t i = p.mask.causal ? j : 0; i < p.t; ++i) {
        const float lse = p.lse[(bi * p.nh + h) * p.t + i];
        if (isinf(lse)) continue;  // a row that sees no key has zero probabilities
        const LaneRow qr = load_row(p.q + p.row(bi, i) * p.q_stride + h * p.hs, hs, lane);
        const LaneRow gr = load_row(p.dout + p.row(bi, i) * p.o_stride + h * p.hs, hs, lane);
        const float s = warp_dot(qr, kr), dp = warp_dot(gr, vr);
        const float pr = expf(p.scale * s - lse);
        const float ds = pr * (dp - p.rows.delta[(bi * p.nh + h) * p.rows.t_pad + i]);
        axpy(dv, pr, gr);
        axpy(dk, ds, qr);
      }
    }
  }
  const int64_t out = p.row(bi, j) * p.dkv_stride + g * p.hs;
  store_row(p.dk + out, dk, p.scale, hs, lane);
  store_row(p.dv + out, dv, 1.f, hs, lane);
}

// dq of query i of head h of sequence bi: one warp.
template <class T>
__global__ void flash_bwd_fallback_dq_kernel(BwdOperands<T> p) {
  const int lane = threadIdx.x % 32;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (w >= p.b * p.nh * p.t) return;
  const int64_t i = w % p.t, h = (w / p.t) % p.nh, bi = w / (p.t * p.nh);
  const int64_t g = h / (p.nh / p.nkv), n = p.mask.visible(i, bi);
  const int hs = static_cast<int>(p.hs);
  const float lse = p.lse[(bi * p.nh + h) * p.t + i];
  LaneRow dq = {};
  if (n > 0 && !isinf(lse)) {
    const LaneRow qr = load_row(p.q + p.row(bi, i) * p.q_stride + h * p.hs, hs, lane);
    const LaneRow gr = load_row(p.dout + p.row(bi, i) * p.o_stride + h * p.hs, hs, lane);
    const float d = p.rows.delta[(bi * p.nh + h) * p.rows.t_pad + i];
    for (int64_t j = 0; j < n; ++j) {
      const LaneRow kr = load_row(p.k + p.row(bi, j) * p.kv_stride + g * p.hs, hs, lane);
      const LaneRow vr = load_row(p.v + p.row(bi, j) * p.kv_stride + g * p.hs, hs, lane);
      const float s = warp_dot(qr, kr), dp = warp_dot(gr, vr);
      const float pr = expf(p.scale * s - lse);
      axpy(dq, pr * (dp - d), kr);
    }
  }
  store_row(p.dq + p.row(bi, i) * p.dq_stride + h * p.hs, dq, p.scale, hs, lane);
}

template <class T>
BwdOperands<T> bwd_operands(const FlashAttnArgs& a, const FlashBwdRows& rows) {
  BwdOperands<T> p;
  p.q = static_cast<const T*>(a.q);
  p.k = static_cast<const T*>(a.k);
  p.v = static_cast<const T*>(a.v);
  p.dout = static_cast<const T*>(a.dout);
  p.dq = static_cast<T*>(a.dq);
  p.dk = static_cast<T*>(a.dk);
  p.dv = static_cast<T*>(a.dv);
  p.q_stride = a.q_stride;
  p.kv_stride = a.kv_stride;
  p.o_stride = a.o_stride;
  p.dq_stride = a.dq_stride;
  p.dkv_stride = a.dkv_stride;
  p.b = a.b;
  p.t = a.t;
  p.nh = a.nh;
  p.nkv = a.nkv;
  p.hs = a.hs;
  p.scale = a.scale;
  p.lse = a.lse;
  p.rows = rows;
  p.mask = flash_key_mask(a);
  return p;
}

unsigned warp_blocks(int64_t warps) {
  const int64_t blocks = (warps + kWarpsPerBlock - 1) / kWarpsPerBlock;
  TEMPER_CHECK(blocks <= INT_MAX, "flash_attention_backward (cuda): {} rows are too many for the fallback kernels",
               warps);
  return static_cast<unsigned>(blocks);
}

}  // namespace

void flash_backward_fallback(const FlashAttnArgs& a, const FlashBwdRows& rows) {
  TEMPER_CHECK(a.hs <= 32 * kMaxDimsPerLane, "flash attention: head size > 256 is not supported (got {})", a.hs);
  dispatch_float(a.dtype, "flash_attention_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const BwdOperands<T> p = bwd_operands<T>(a, rows);
    const int threads = 32 * kWarpsPerBlock;
    flash_bwd_fallback_dkdv_kernel<T><<<warp_blocks(a.b * a.nkv * a.t), threads, 0, compute_stream()>>>(p);
    TEMPER_CUDA_LAUNCH_CHECK();
    flash_bwd_fallback_dq_kernel<T><<<warp_blocks(a.b * a.nh * a.t), threads, 0, compute_stream()>>>(p);
    TEMPER_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace temper::cuda
