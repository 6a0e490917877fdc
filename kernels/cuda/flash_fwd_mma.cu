// Flash-attention forward on tensor cores with mma.sync (sm_80+, bf16/f16, HS 64 or 128,
// 16-byte aligned operands), FA2-style: one CTA owns a block of kBr = 64 query rows of one
// (batch, query head) and streams the visible key/value blocks through shared memory, keeping the
// output, the running row max and the running row sum in registers (online softmax).
//
// Threads -> data: 4 warps, warp w owns query rows 16w..16w+15 of the block. Per key block of kBc
// keys (kBc = 128 for HS 64, 64 for HS 128) each warp computes its 16 x kBc scores
// S = Q K^T with mma.m16n8k16 (A fragments of its Q rows and B fragments of K via ldmatrix from
// smem), masks them where the block crosses the causal diagonal / the key length / T, updates
// the online softmax in the log2 domain (scale * log2(e) folded into one FMA, exp2), converts P to
// 16 bits in registers and accumulates O += P V (V via ldmatrix.trans). Lane (g = lane/4,
// c = lane%4) holds rows g and g+8 of its warp's slice (see kernels/cuda/flash_mma.cuh).
// Grid: 1-D, one CTA per (query block, head, batch), query block fastest so the CTAs in flight
// share K/V in L2; for causal masks the longest query blocks (last ones) start first.
// Shared memory (16-bit elements, rows of HS, XOR-swizzled 16-byte chunks): Q [64][HS], K [kBc][HS],
// V [kBc][HS] = 48 KiB for HS 128 and 40 KiB for HS 64. K and V are single-buffered but loaded in
// separate cp.async groups: V_j streams in while S_j and the softmax are computed, K_{j+1} while
// P_j V_j is; two barriers per key block. The Q area stages the output tile for 16-byte stores.
#include <climits>
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/flash_mma.cuh"
#include "kernels/cuda/flash_paths.h"

namespace temper::cuda {
namespace {

using namespace flash;  // NOLINT: the primitives of flash_mma.cuh

template <int kHs>
struct FwdTile {
  static constexpr int kWarps = 4, kThreads = 32 * kWarps, kBr = 16 * kWarps;
  static constexpr int kBc = kHs == 64 ? 128 : 64;
  static constexpr int kRowBytes = kHs * 2;
  static constexpr int kQBytes = kBr * kRowBytes, kKvBytes = kBc * kRowBytes;
  static constexpr int kSmemBytes = kQBytes + 2 * kKvBytes;
  static_assert(kSmemBytes <= 48 * 1024, "no opt-in for more than 48 KiB of dynamic smem");
  static_assert(kQBytes % 1024 == 0 && kKvBytes % 1024 == 0, "tiles 1024-byte aligned (lane_addrs)");
};

struct FwdParams {
  const void *q, *k, *v;
  void* out;
  float* lse;                  // [B,NH,T]
  const int32_t* key_lengths;  // [B] or null
  int64_t q_stride, kv_stride, o_stride;
  int t, nh, group, n_qblocks;
  float scale_log2;  // scale * log2(e)
  bool causal;
};

// This CTA's (batch, head, first query row) and the keys its rows see.
struct FwdCta {
  int b, h, q0;
  int kv_len;  // keys [0, kv_len) exist for this sequence: min(T, key length)
  int n_max;   // the block's rows see keys < n_max (blocks beyond it are skipped)
  int n_min;   // every row sees keys < n_min (blocks below it need no mask)
};

template <int kBr>
__device__ FwdCta fwd_cta(const FwdParams& p) {
  FwdCta c;
  const int qb_raw = static_cast<int>(blockIdx.x % static_cast<unsigned>(p.n_qblocks));
  const int bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.n_qblocks));
  c.h = bh % p.nh;
  c.b = bh / p.nh;
  c.q0 = (p.causal ? p.n_qblocks - 1 - qb_raw : qb_raw) * kBr;
  c.kv_len = p.key_lengths ? min(p.t, max(0, p.key_lengths[c.b])) : p.t;
  c.n_max = p.causal ? min(min(c.q0 + kBr, p.t), c.kv_len) : c.kv_len;
  c.n_min = p.causal ? min(c.q0 + 1, c.kv_len) : c.kv_len;
  return c;
}

// cp.async of rows [row0, row0 + kRows) of one head (head_base = its row 0) into a swizzled tile;
// rows >= row_end are zero-filled, so padding keys never bring NaN/Inf garbage into P V. Thread
// tid copies chunk tid % kChunks of rows tid / kChunks + i * kPass: a pass moves a multiple of 8
// rows, so the swizzle phase (row % 8) is the same every pass and the addresses just step.
template <int kHs, int kRows, int kThreads, class T>
__device__ void load_tile(uint32_t tile, const T* head_base, int64_t stride, int row0, int row_end) {
  constexpr int kChunks = kHs / 8, kPass = kThreads / kChunks;
  static_assert(kThreads % kChunks == 0 && kPass % 8 == 0 && kRows % kPass == 0, "whole passes of 8k rows");
  const int r = static_cast<int>(threadIdx.x) / kChunks, ch = static_cast<int>(threadIdx.x) % kChunks;
  const uint32_t dst = tile + swizzle_offset<kHs * 2>(r, ch);
  const T* src = head_base + static_cast<int64_t>(row0 + r) * stride + ch * 8;
#pragma unroll
  for (int i = 0; i < kRows / kPass; ++i) {
    const bool valid = row0 + r + i * kPass < row_end;
    cp_async_16(dst + i * kPass * kHs * 2, valid ? src + i * kPass * stride : head_base, valid);
  }
}

// Per-lane ldmatrix addresses. In a swizzled tile whose base is 1024-byte aligned, chunk 2kk + x
// of row r (x in {0, 1}) sits at byte r*kRowBytes + ((2kk ^ x ^ (r % 8)) << 4), i.e. at the lane's
// address for chunk x XOR (kk << 5); row steps of 16 add 16*kRowBytes, bits the XOR never touches.
// So one base per lane and operand serves every fragment (one LOP or an immediate offset each)
// instead of one hoisted register per fragment address. All three bases below have r % 8 = lane % 8.
struct LaneAddrs {
  uint32_t q;  // A of the warp's Q rows: row warp*16 + lane%16, chunk lane/16
  uint32_t k;  // B of K^T: row lane%8 + 8*(lane/16), chunk (lane/8)%2
  uint32_t v;  // B of V (.trans): row lane%16, chunk lane/16
};

template <int kRowBytes>
__device__ LaneAddrs lane_addrs(uint32_t q_tile, uint32_t k_tile, uint32_t v_tile, int warp, int lane) {
  LaneAddrs a;
  a.q = q_tile + swizzle_offset<kRowBytes>(warp * 16 + (lane & 15), lane >> 4);
  a.k = k_tile + swizzle_offset<kRowBytes>((lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1);
  a.v = v_tile + swizzle_offset<kRowBytes>(lane & 15, lane >> 4);
  return a;
}

// s[nt] = the 16 x 8 scores of keys 8nt..8nt+7 of the block: Q K^T (unscaled), f32. The warp's Q
// rows are re-read from smem (one ldmatrix.x4 per 16 columns of HS) rather than held in registers
// across the loop: that frees HS/4 registers for 3 CTAs per SM without spills.
template <class T, int kHs, int kBc>
__device__ void qk_scores(float (&s)[kBc / 8][4], const LaneAddrs& ad) {
#pragma unroll
  for (int nt = 0; nt < kBc / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < kHs / 16; ++kk) {
    uint32_t a[4];
    ldmatrix_x4(a, ad.q ^ (kk << 5));
#pragma unroll
    for (int np = 0; np < kBc / 16; ++np) {
      uint32_t b[4];
      ldmatrix_x4(b, (ad.k + np * 16 * kHs * 2) ^ (kk << 5));
      mma_m16n8k16<T>(s[2 * np], a, b[0], b[1]);
      mma_m16n8k16<T>(s[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// Scores of keys >= the row's limit become -inf (lim[h]: limit of the thread's row g + 8h).
template <int kNt>
__device__ void mask_scores(float (&s)[kNt][4], int key0, const int (&lim)[2], int lane) {
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
    for (int r = 0; r < 4; ++r)
      if (key0 + nt * 8 + frag_c_col(lane, r) >= lim[r / 2]) s[nt][r] = -INFINITY;
}

// Online softmax over one key block, in the log2 domain (x = s * scale * log2 e): m = running max
// of x (quad-uniform), l = this lane's partial running sum of 2^(x - m) (the quad sum is taken at
// the end), s <- 2^(x - m), and the output rows rescaled by 2^(m_old - m_new). A row with no
// visible key so far keeps m = -inf and uses 0 as its reference, so it stays exactly 0, never NaN.
template <int kNt, int kNo>
__device__ void online_softmax(float (&s)[kNt][4], float (&o)[kNo][4], float (&m)[2], float (&l)[2], float scale_log2) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float mx = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * h], s[nt][2 * h + 1]));
    const float m_new = fmaxf(m[h], quad_max(mx) * scale_log2);
    const float m_ref = m_new == -INFINITY ? 0.f : m_new;
    const float alpha = exp2_approx(m[h] - m_ref);
    m[h] = m_new;
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < kNt; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float pe = exp2_approx(fmaf(s[nt][2 * h + e], scale_log2, -m_ref));
        s[nt][2 * h + e] = pe;
        sum += pe;
      }
    l[h] = l[h] * alpha + sum;
#pragma unroll
    for (int dt = 0; dt < kNo; ++dt) {
      o[dt][2 * h] *= alpha;
      o[dt][2 * h + 1] *= alpha;
    }
  }
}

// o += P V: P (the 16 x kBc probabilities in s) as 16-bit A fragments, V [kBc][HS] via ldmatrix.trans.
template <class T, int kHs, int kBc>
__device__ void pv_accumulate(float (&o)[kHs / 8][4], const float (&s)[kBc / 8][4], const LaneAddrs& ad) {
#pragma unroll
  for (int kk = 0; kk < kBc / 16; ++kk) {
    uint32_t a[4];
    acc_to_frag_a<T>(a, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
    for (int dp = 0; dp < kHs / 16; ++dp) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, (ad.v + kk * 16 * kHs * 2) ^ (dp << 5));
      mma_m16n8k16<T>(o[2 * dp], a, b[0], b[1]);
      mma_m16n8k16<T>(o[2 * dp + 1], a, b[2], b[3]);
    }
  }
}

// Normalises the warp's 16 output rows, writes lse, and stores the rows < T: the 16-bit tile is
// staged in the warp's own (no longer needed) rows of the Q area, then written with 16-byte stores.
template <class T, int kHs>
__device__ void store_output(const FwdParams& p, const FwdCta& c, float (&o)[kHs / 8][4], const float (&m)[2],
                             const float (&l)[2], unsigned char* q_area, int warp, int lane) {
  constexpr int kChunks = kHs / 8;
  __syncwarp();  // this warp's last reads of its Q rows are done before they are overwritten
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float sum = quad_sum(l[h]);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    const int row = warp * 16 + lane / 4 + 8 * h;
#pragma unroll
    for (int dt = 0; dt < kHs / 8; ++dt) {
      const uint32_t off = swizzle_offset<kHs * 2>(row, dt) + 4 * (lane % 4);
      *reinterpret_cast<uint32_t*>(q_area + off) = pack2<T>(o[dt][2 * h] * inv, o[dt][2 * h + 1] * inv);
    }
    const int i = c.q0 + row;
    if (lane % 4 == 0 && i < p.t)
      p.lse[(static_cast<int64_t>(c.b) * p.nh + c.h) * p.t + i] = sum > 0.f ? m[h] * kLn2 + logf(sum) : INFINITY;
  }
  __syncwarp();
  T* out = static_cast<T*>(p.out) + static_cast<int64_t>(c.b) * p.t * p.o_stride + static_cast<int64_t>(c.h) * kHs;
#pragma unroll
  for (int idx = lane; idx < 16 * kChunks; idx += 32) {
    const int r = idx / kChunks, ch = idx % kChunks, i = c.q0 + warp * 16 + r;
    if (i < p.t)
      *reinterpret_cast<uint4*>(out + static_cast<int64_t>(i) * p.o_stride + ch * 8) =
          *reinterpret_cast<const uint4*>(q_area + swizzle_offset<kHs * 2>(warp * 16 + r, ch));
  }
}

template <class T, int kHs>
__global__ void __launch_bounds__(FwdTile<kHs>::kThreads, 3) flash_fwd_mma_kernel(const FwdParams p) {
  using Tile = FwdTile<kHs>;
  constexpr int kBr = Tile::kBr, kBc = Tile::kBc, kThreads = Tile::kThreads;
  extern __shared__ __align__(1024) unsigned char smem[];
  const uint32_t q_tile = smem_u32(smem), k_tile = q_tile + Tile::kQBytes, v_tile = k_tile + Tile::kKvBytes;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  if (q_tile % 1024 != 0) __trap();  // lane_addrs() relies on it; never expected to fire
  const LaneAddrs ad = lane_addrs<kHs * 2>(q_tile, k_tile, v_tile, warp, lane);
  const FwdCta c = fwd_cta<kBr>(p);
  const int64_t kv_off = static_cast<int64_t>(c.b) * p.t * p.kv_stride + static_cast<int64_t>(c.h / p.group) * kHs;
  const T* q_base =
      static_cast<const T*>(p.q) + static_cast<int64_t>(c.b) * p.t * p.q_stride + static_cast<int64_t>(c.h) * kHs;
  const T* k_base = static_cast<const T*>(p.k) + kv_off;
  const T* v_base = static_cast<const T*>(p.v) + kv_off;
  const int n_blocks = (c.n_max + kBc - 1) / kBc;

  load_tile<kHs, kBr, kThreads>(q_tile, q_base, p.q_stride, c.q0, p.t);
  cp_async_commit();
  if (n_blocks > 0) load_tile<kHs, kBc, kThreads>(k_tile, k_base, p.kv_stride, 0, c.kv_len);
  cp_async_commit();

  int lim[2];  // keys [0, lim[h]) visible to the thread's rows g and g + 8
  for (int h = 0; h < 2; ++h) {
    const int i = c.q0 + warp * 16 + lane / 4 + 8 * h;
    lim[h] = p.causal ? min(i + 1, c.kv_len) : c.kv_len;
  }
  float o[kHs / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  for (int j = 0; j < n_blocks; ++j) {
    const int key0 = j * kBc;
    cp_async_wait<0>();  // K_j (and, the first time, Q) has landed
    __syncthreads();     // ... for every thread; and every warp is done with V_{j-1}
    load_tile<kHs, kBc, kThreads>(v_tile, v_base, p.kv_stride, key0, c.kv_len);
    cp_async_commit();
    float s[kBc / 8][4];
    qk_scores<T, kHs, kBc>(s, ad);
    if (key0 + kBc > c.n_min) mask_scores(s, key0, lim, lane);
    online_softmax(s, o, m, l, p.scale_log2);
    cp_async_wait<0>();  // V_j has landed
    __syncthreads();     // ... for every thread; and every warp is done with K_j
    if (j + 1 < n_blocks) load_tile<kHs, kBc, kThreads>(k_tile, k_base, p.kv_stride, key0 + kBc, c.kv_len);
    cp_async_commit();
    pv_accumulate<T, kHs, kBc>(o, s, ad);
  }
  cp_async_wait<0>();  // with no key block, Q may still be landing in the rows staged below
  __syncthreads();
  store_output<T, kHs>(p, c, o, m, l, smem, warp, lane);
}

FwdParams fwd_params(const FlashAttnArgs& a, int64_t n_qblocks) {
  FwdParams p;
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.lse = a.lse;
  p.key_lengths = a.key_lengths;
  p.q_stride = a.q_stride;
  p.kv_stride = a.kv_stride;
  p.o_stride = a.o_stride;
  p.t = static_cast<int>(a.t);
  p.nh = static_cast<int>(a.nh);
  p.group = static_cast<int>(a.group());
  p.n_qblocks = static_cast<int>(n_qblocks);
  p.scale_log2 = a.scale * kLog2e;
  p.causal = a.causal;
  return p;
}

template <class T, int kHs>
void launch_fwd_mma(const FlashAttnArgs& a) {
  using Tile = FwdTile<kHs>;
  const int64_t n_qblocks = (a.t + Tile::kBr - 1) / Tile::kBr;
  const int64_t ctas = n_qblocks * a.b * a.nh;
  TEMPER_CHECK(a.t <= INT_MAX - 256 && ctas <= INT_MAX,
               "flash_attention_forward (cuda): B={} T={} NH={} exceed the mma kernel's grid", a.b, a.t, a.nh);
  flash_fwd_mma_kernel<T, kHs>
      <<<static_cast<unsigned>(ctas), Tile::kThreads, Tile::kSmemBytes, compute_stream()>>>(fwd_params(a, n_qblocks));
  TEMPER_CUDA_LAUNCH_CHECK();
}

template <class T>
void launch_fwd_mma_hs(const FlashAttnArgs& a) {
  if (a.hs == 64) {
    launch_fwd_mma<T, 64>(a);
  } else {
    launch_fwd_mma<T, 128>(a);
  }
}

}  // namespace

void flash_forward_mma(const FlashAttnArgs& a) {
  TEMPER_CHECK(flash_mma_dtype_and_head_ok(a),
               "flash_attention_forward (cuda): the mma kernel needs bf16/f16 and HS 64 or 128, got {} and HS {}",
               dtype_name(a.dtype), a.hs);
  if (a.dtype == DType::BF16) {
    launch_fwd_mma_hs<__nv_bfloat16>(a);
  } else {
    launch_fwd_mma_hs<__half>(a);
  }
}

}  // namespace temper::cuda
