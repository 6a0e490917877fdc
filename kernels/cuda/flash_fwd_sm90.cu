// Flash-attention forward for Hopper (sm_90a): TMA loads, wgmma tensor cores and warp
// specialization, after the ideas of FlashAttention-3. bf16/f16, HS 64 or 128, 16-byte aligned
// q/k/v rows; chosen with TEMPER_FLASH_KERNEL=sm90 (kernels/cuda/flash_paths.h).
//
// One CTA = 3 warpgroups (384 threads) owns a block of kBr = 128 query rows of one (batch, query
// head) and streams the key/value blocks (kBc = 128 keys) that any of its rows sees:
//   warpgroup 0, producer (setmaxnreg.dec 40): thread 0 issues every TMA load -- the Q tile once,
//     then K_j and V_j into rings of kStages buffers. Each buffer has a "full" mbarrier (the TMA
//     transaction bytes complete it) and an "empty" one (the 8 consumer warps arrive once the wgmma
//     reading the buffer has completed). Loads go in the order the consumers use them:
//     K_0, K_1, V_0, K_2, V_1, ..., V_{n-1}.
//   warpgroups 1 and 2, consumers (setmaxnreg.inc 232): consumer c owns query rows 64c..64c+63.
//     S_j = Q K_j^T: 64 x 128 f32 accumulators, wgmma m64n128k16 with A = Q and B = K_j from shared
//     memory (both K-major). Masking only on the blocks that cross the causal diagonal, the key
//     length or T. Online softmax in registers in the log2 domain (scale * log2(e) folded into one
//     FMA, ex2). P_j is rounded to 16 bits in registers and is the A operand of O += P_j V_j (wgmma
//     m64nHSk16, B = V_j from shared memory, N-major via imm-trans-b). Intra-warpgroup overlap:
//     S_{j+1} and O += P_j V_j are issued back to back, the softmax of S_{j+1} runs while the PV
//     wgmma is in flight, and O is rescaled once it has completed.
// Threads -> data: accumulator fragment of wgmma (see flash_sm90_primitives.cuh): in consumer c,
// warp w (0..3 within the warpgroup) holds rows 64c+16w+g and +8 (lane = 4g + q); per 8-column chunk i
// it holds columns 8i+2q, 8i+2q+1: s[4i+0..1] for row g, s[4i+2..3] for row g+8. Row statistics
// (max, sum) are reduced over the 4 lanes of a quad.
// Shared memory (1024-byte aligned; every tile in 64-column slabs of rows of 128 bytes, written by
// TMA with the 128-byte swizzle the wgmma descriptors describe): Q [HS/64][128][64], K and V
// kStages x [HS/64][128][64] each, then the mbarriers. HS 128: 32 KiB + 2 x 2 x 32 KiB = 160 KiB;
// HS 64: 16 KiB + 3 x 2 x 16 KiB = 112 KiB (one CTA per SM either way, the registers decide).
// Grid: 1-D, one CTA per (query block, head, batch), query block fastest (the CTAs in flight share
// K/V in L2); the last query blocks (longest under a causal mask) start first.
// Epilogue: O / l and lse = m * scale + ln(l) stored from registers (rows >= T skipped); a row that
// sees no key gets O = 0 and lse = +inf.
#include <cuda.h>  // CUtensorMap and its enums (types only; the encoder comes from the driver at run time)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled

#include <climits>
#include <cmath>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/flash_paths.h"
#include "kernels/cuda/flash_sm90_primitives.cuh"

namespace temper::cuda {
namespace {

constexpr int kThreads = 384;        // producer warpgroup + 2 consumer warpgroups
constexpr int kBr = 128, kBc = 128;  // query rows per CTA (64 per consumer), keys per block
constexpr int kSlabCols = 64;        // 16-bit columns per 128-byte swizzle row
constexpr int kSlabRowBytes = 128;

// The problem as the kernel sees it (q, k, v are reached through the tensor maps).
struct Sm90Params {
  void* out;                   // [B,T,*] rows o_stride apart
  float* lse;                  // [B,NH,T]
  const int32_t* key_lengths;  // [B] or null
  int64_t o_stride;
  int t, nh, group, m_blocks;
  float scale, scale_log2;  // 1/sqrt(HS) and scale * log2(e)
  int causal;
};

// Shared-memory layout (byte offsets from the 1024-aligned base) and the mbarrier addresses.
template <int kHs>
struct Sm90Smem {
  static constexpr int kSlabs = kHs / kSlabCols;
  static constexpr int kStages = kHs == 64 ? 3 : 2;
  static constexpr int kQSlabBytes = kBr * kSlabRowBytes, kKvSlabBytes = kBc * kSlabRowBytes;
  static constexpr int kQBytes = kSlabs * kQSlabBytes, kKvBytes = kSlabs * kKvSlabBytes;
  static constexpr int kQOff = 0, kKOff = kQOff + kQBytes, kVOff = kKOff + kStages * kKvBytes;
  static constexpr int kBarOff = kVOff + kStages * kKvBytes;
  static constexpr int kBars = 1 + 4 * kStages;  // q_full, k_full[], k_empty[], v_full[], v_empty[]
  static constexpr int kBytes = kBarOff + 8 * kBars + 1024;  // + slack to align the base
  static_assert(kBytes <= 227 * 1024, "over the sm_90 shared-memory limit per block");

  __host__ __device__ static uint32_t bar(uint32_t base, int i) { return base + kBarOff + 8 * i; }
  __host__ __device__ static uint32_t q_full(uint32_t base) { return bar(base, 0); }
  __host__ __device__ static uint32_t k_full(uint32_t base, int s) { return bar(base, 1 + s); }
  __host__ __device__ static uint32_t k_empty(uint32_t base, int s) { return bar(base, 1 + kStages + s); }
  __host__ __device__ static uint32_t v_full(uint32_t base, int s) { return bar(base, 1 + 2 * kStages + s); }
  __host__ __device__ static uint32_t v_empty(uint32_t base, int s) { return bar(base, 1 + 3 * kStages + s); }
};

enum class KvTile { K, V };

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
using namespace sm90;  // NOLINT: the primitives of flash_sm90_primitives.cuh

constexpr int kProducerRegs = 40;   // setmaxnreg targets: 128 * 40 + 256 * 232 = 64512 registers,
constexpr int kConsumerRegs = 232;  // what 384 threads x 168 (the launch-bounds cap) hold
constexpr int kConsumerWarps = 8;   // arrivals that free a K or V buffer
// HS 128 only: issue O += P V as two m64n64k16 per k-step (one per 64-column slab of V) instead of
// one m64n128k16. Same result without relying on the descriptor's LBO for N-major V: a switch for
// debugging on the GPU (if HS 128 fails where HS 64 passes): -DTEMPER_FLASH_SM90_SPLIT_PV=1.
#ifndef TEMPER_FLASH_SM90_SPLIT_PV
#define TEMPER_FLASH_SM90_SPLIT_PV 0
#endif
constexpr bool kSplitPvN = TEMPER_FLASH_SM90_SPLIT_PV != 0;

// ---- work of one CTA ----

// Keys [0, n) that query row i sees (rows i >= T get a harmless value <= kv_len).
__device__ __forceinline__ int visible_keys(const Sm90Params& p, int i, int kv_len) {
  return min(p.causal ? i + 1 : p.t, kv_len);
}

struct CtaWork {
  int b, h, m0;  // batch, query head, first query row
  int kv_len;    // min(T, key length)
  int n_blocks;  // key blocks any row of the CTA sees (producer and consumers agree on it)
};

__device__ __forceinline__ CtaWork cta_work(const Sm90Params& p) {
  CtaWork w;
  const int m_rev = static_cast<int>(blockIdx.x % static_cast<unsigned>(p.m_blocks));
  const int bh = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.m_blocks));
  w.h = bh % p.nh;
  w.b = bh / p.nh;
  w.m0 = (p.m_blocks - 1 - m_rev) * kBr;
  w.kv_len = p.key_lengths ? min(max(p.key_lengths[w.b], 0), p.t) : p.t;
  const int n_max = visible_keys(p, min(w.m0 + kBr, p.t) - 1, w.kv_len);  // the last real row sees most
  w.n_blocks = (n_max + kBc - 1) / kBc;
  return w;
}

template <int kHs>
__device__ void init_barriers(uint32_t base) {
  using L = Sm90Smem<kHs>;
  mbar_init(L::q_full(base), 1);
  for (int s = 0; s < L::kStages; ++s) {
    mbar_init(L::k_full(base, s), 1);
    mbar_init(L::v_full(base, s), 1);
    mbar_init(L::k_empty(base, s), kConsumerWarps);
    mbar_init(L::v_empty(base, s), kConsumerWarps);
  }
  fence_mbar_init();
}

// ---- producer (one thread) ----

// Loads key block j of K or V into its ring buffer once the consumers freed it. The n-th use of
// buffer s (n = j / kStages) waits for the empty phase of parity (n & 1) ^ 1: the first use
// passes at once.
template <int kHs>
__device__ void load_kv_block(KvTile which, const CUtensorMap* tmap, uint32_t base, int j, int kvh, int b) {
  using L = Sm90Smem<kHs>;
  const int s = j % L::kStages;
  const bool is_k = which == KvTile::K;
  const uint32_t full = is_k ? L::k_full(base, s) : L::v_full(base, s);
  const uint32_t empty = is_k ? L::k_empty(base, s) : L::v_empty(base, s);
  const uint32_t dst = base + (is_k ? L::kKOff : L::kVOff) + s * L::kKvBytes;
  mbar_wait(empty, ((j / L::kStages) & 1) ^ 1);
  mbar_arrive_expect_tx(full, L::kKvBytes);
#pragma unroll
  for (int sl = 0; sl < L::kSlabs; ++sl)
    tma_load_4d(dst + sl * L::kKvSlabBytes, tmap, full, sl * kSlabCols, kvh, j * kBc, b);
}

template <int kHs>
__device__ void producer(const CUtensorMap* tq, const CUtensorMap* tk, const CUtensorMap* tv, uint32_t base,
                         const CtaWork& w, int kvh) {
  using L = Sm90Smem<kHs>;
  if (w.n_blocks == 0) return;  // consumers wait for nothing either: no load may outlive the CTA
  prefetch_tensor_map(tq);
  prefetch_tensor_map(tk);
  prefetch_tensor_map(tv);
  mbar_arrive_expect_tx(L::q_full(base), L::kQBytes);
#pragma unroll
  for (int sl = 0; sl < L::kSlabs; ++sl)
    tma_load_4d(base + L::kQOff + sl * L::kQSlabBytes, tq, L::q_full(base), sl * kSlabCols, w.h, w.m0, w.b);
  load_kv_block<kHs>(KvTile::K, tk, base, 0, kvh, w.b);
  for (int j = 1; j < w.n_blocks; ++j) {
    load_kv_block<kHs>(KvTile::K, tk, base, j, kvh, w.b);
    load_kv_block<kHs>(KvTile::V, tv, base, j - 1, kvh, w.b);
  }
  load_kv_block<kHs>(KvTile::V, tv, base, w.n_blocks - 1, kvh, w.b);
}

// ---- consumer pieces ----

// S = Q K^T for this warpgroup's 64 rows: kHs/16 k-steps of m64n128k16. Step kk reads columns
// 16kk..16kk+15 of Q and K: slab kk/4, byte 32*(kk%4) inside the 128-byte swizzled row.
template <bool kBf16, int kHs>
__device__ __forceinline__ void issue_qk(float (&s)[64], uint32_t q_tile, uint32_t k_tile) {
  using L = Sm90Smem<kHs>;
#pragma unroll
  for (int kk = 0; kk < kHs / 16; ++kk) {
    const uint32_t col = (kk % 4) * 32;
    const uint64_t da = desc_sw128(q_tile + (kk / 4) * L::kQSlabBytes + col, 16, 8 * kSlabRowBytes);
    const uint64_t db = desc_sw128(k_tile + (kk / 4) * L::kKvSlabBytes + col, 16, 8 * kSlabRowBytes);
    wgmma_ss_m64n128k16<kBf16>(s, da, db, kk > 0 ? 1 : 0);
  }
}

// O += P V: kBc/16 k-steps; step kk reads keys 16kk..16kk+15 of V (rows 128 bytes apart: start at
// 2048*kk, SBO = 1024 to the next 8 keys). N = HS columns: for N = 128 the descriptor's LBO steps
// to the second 64-column slab. For N = 64 (HS 64, or the split variant) there is one slab and the
// LBO is unused; it is set to 1024 too, so those shapes are right under either reading of LBO/SBO
// for N-major operands.
template <bool kBf16, int kHs>
__device__ __forceinline__ void issue_pv(float (&o)[kHs / 2], const uint32_t (&pa)[kBc / 4], uint32_t v_tile) {
  using L = Sm90Smem<kHs>;
  constexpr uint32_t k8Rows = 8 * kSlabRowBytes;
#pragma unroll
  for (int kk = 0; kk < kBc / 16; ++kk) {
    const uint32_t a[4] = {pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3]};
    const uint32_t rows = v_tile + kk * 16 * kSlabRowBytes;
    if constexpr (kHs == 64) {
      wgmma_rs_m64n64k16<kBf16>(o, a, desc_sw128(rows, k8Rows, k8Rows), 1);
    } else if constexpr (kSplitPvN) {
      float(&lo)[32] = *reinterpret_cast<float(*)[32]>(&o[0]);
      float(&hi)[32] = *reinterpret_cast<float(*)[32]>(&o[32]);
      wgmma_rs_m64n64k16<kBf16>(lo, a, desc_sw128(rows, k8Rows, k8Rows), 1);
      wgmma_rs_m64n64k16<kBf16>(hi, a, desc_sw128(rows + L::kKvSlabBytes, k8Rows, k8Rows), 1);
    } else {
      wgmma_rs_m64n128k16<kBf16>(o, a, desc_sw128(rows, L::kKvSlabBytes, k8Rows), 1);
    }
  }
}

// Scores of keys a row does not see -> -inf. Column 8i + 2q + e of the block is key kv0 + 8i + 2q + e.
__device__ __forceinline__ void mask_scores(float (&s)[64], int kv0, const int (&n_vis)[2], int lane) {
  const int c0 = 2 * (lane % 4);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int lim = n_vis[r] - kv0;  // block columns < lim are visible to row r
#pragma unroll
    for (int i = 0; i < kBc / 8; ++i)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (8 * i + c0 + e >= lim) s[4 * i + 2 * r + e] = -INFINITY;
  }
}

// Online softmax over one block of (masked) raw scores: updates the running max m (raw units) and
// the per-thread partial row sums l (reduced over the quad only in the epilogue: the rescaling is
// linear), turns s into p = 2^(s * scale_log2 - m * scale_log2) and returns in corr the factor the
// output rows must be multiplied by. A row with no visible key so far keeps m = -inf, uses 0 as its
// reference (no inf - inf) and gets p = 0, corr = 0.
__device__ __forceinline__ void online_softmax(float (&s)[64], float (&m)[2], float (&l)[2], float (&corr)[2],
                                               float scale_log2) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = m[r];
#pragma unroll
    for (int i = 0; i < kBc / 8; ++i) mx = fmaxf(mx, fmaxf(s[4 * i + 2 * r], s[4 * i + 2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float ref = mx == -INFINITY ? 0.f : mx * scale_log2;
    corr[r] = ex2(m[r] * scale_log2 - ref);  // m = -inf: ex2(-inf) = 0
    m[r] = mx;
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < kBc / 8; ++i)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float& x = s[4 * i + 2 * r + e];
        x = ex2(fmaf(x, scale_log2, -ref));
        sum += x;
      }
    l[r] = l[r] * corr[r] + sum;
  }
}

// P (f32 accumulator layout) -> 16-bit A fragments of the PV wgmma; k-step kk covers block keys
// 16kk..16kk+15 = accumulator chunks 2kk and 2kk+1: pa[4kk + r] = (s[8kk + 2r], s[8kk + 2r + 1]).
template <class T>
__device__ __forceinline__ void pack_p(const float (&s)[64], uint32_t (&pa)[kBc / 4]) {
#pragma unroll
  for (int kk = 0; kk < kBc / 16; ++kk)
#pragma unroll
    for (int r = 0; r < 4; ++r) pa[4 * kk + r] = pack2<T>(s[8 * kk + 2 * r], s[8 * kk + 2 * r + 1]);
}

template <int kN>
__device__ __forceinline__ void rescale_rows(float (&o)[kN], const float (&corr)[2]) {
#pragma unroll
  for (int i = 0; i < kN / 4; ++i) {
    o[4 * i + 0] *= corr[0];
    o[4 * i + 1] *= corr[0];
    o[4 * i + 2] *= corr[1];
    o[4 * i + 3] *= corr[1];
  }
}

// The first lane of each consumer warp frees a buffer after the warp's wgmma_wait covered its reader.
__device__ __forceinline__ void release(uint32_t empty_bar, int lane) {
  if (lane == 0) mbar_arrive(empty_bar);
}

// The per-thread state of a consumer warpgroup.
template <int kHs>
struct ConsumerState {
  float o[kHs / 2];  // output accumulators (wgmma m64nHS layout)
  float m[2], l[2];  // running raw max and partial sum of rows g, g+8
  int n_vis[2];      // keys rows g, g+8 see
  int n_min;         // keys every row of the warpgroup sees (blocks below it need no mask)
  int lane;
};

template <class T, int kHs>
__device__ void consumer_mainloop(const Sm90Params& p, uint32_t base, const CtaWork& w, int cw,
                                  ConsumerState<kHs>& st) {
  using L = Sm90Smem<kHs>;
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  constexpr int kSt = L::kStages;
  float s[64], corr[2];
  uint32_t pa[kBc / 4];
  const uint32_t q_tile = base + L::kQOff + cw * 64 * kSlabRowBytes;  // this warpgroup's 64 rows
#pragma unroll
  for (int i = 0; i < 64; ++i) s[i] = 0.f;  // defined inputs for the first (overwriting) wgmma
  mbar_wait(L::q_full(base), 0);

  // Block 0: S_0, softmax, P_0 (its PV is issued with S_1).
  mbar_wait(L::k_full(base, 0), 0);
  wgmma_fence();
  issue_qk<kBf16, kHs>(s, q_tile, base + L::kKOff);
  wgmma_commit();
  wgmma_wait<0>();
  fence_operands(s);
  release(L::k_empty(base, 0), st.lane);
  if (kBc > st.n_min) mask_scores(s, 0, st.n_vis, st.lane);
  online_softmax(s, st.m, st.l, corr, p.scale_log2);
  pack_p<T>(s, pa);

  for (int j = 1; j < w.n_blocks; ++j) {
    const int sk = j % kSt, sv = (j - 1) % kSt;
    mbar_wait(L::k_full(base, sk), (j / kSt) & 1);
    wgmma_fence();
    issue_qk<kBf16, kHs>(s, q_tile, base + L::kKOff + sk * L::kKvBytes);
    wgmma_commit();
    mbar_wait(L::v_full(base, sv), ((j - 1) / kSt) & 1);
    wgmma_fence();  // again after the wait loop (ptxas would insert it: C7519)
    issue_pv<kBf16, kHs>(st.o, pa, base + L::kVOff + sv * L::kKvBytes);
    wgmma_commit();
    wgmma_wait<1>();  // S_j done (groups complete in order); P_{j-1} V_{j-1} may still run
    fence_operands(s);
    release(L::k_empty(base, sk), st.lane);
    if (j * kBc + kBc > st.n_min) mask_scores(s, j * kBc, st.n_vis, st.lane);
    online_softmax(s, st.m, st.l, corr, p.scale_log2);
    wgmma_wait<0>();
    fence_operands(st.o);
    release(L::v_empty(base, sv), st.lane);
    rescale_rows(st.o, corr);
    pack_p<T>(s, pa);
  }

  const int jl = w.n_blocks - 1, sv = jl % kSt;
  mbar_wait(L::v_full(base, sv), (jl / kSt) & 1);
  wgmma_fence();
  issue_pv<kBf16, kHs>(st.o, pa, base + L::kVOff + sv * L::kKvBytes);
  wgmma_commit();
  wgmma_wait<0>();
  fence_operands(st.o);
  release(L::v_empty(base, sv), st.lane);
}

// out rows = O / l (0 for a row that saw no key) and lse = m * scale + ln(l) (+inf likewise).
template <class T, int kHs>
__device__ void consumer_epilogue(const Sm90Params& p, const CtaWork& w, int row0, ConsumerState<kHs>& st) {
  float sum[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    sum[r] = st.l[r];
    sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 1);
    sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 2);
  }
  const int q = st.lane % 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    if (row >= p.t) continue;
    const float inv = sum[r] > 0.f ? 1.f / sum[r] : 0.f;
    if (q == 0)
      p.lse[(static_cast<int64_t>(w.b) * p.nh + w.h) * p.t + row] =
          sum[r] > 0.f ? st.m[r] * p.scale + logf(sum[r]) : INFINITY;
    T* dst = static_cast<T*>(p.out) + (static_cast<int64_t>(w.b) * p.t + row) * p.o_stride +
             static_cast<int64_t>(w.h) * kHs + 2 * q;
#pragma unroll
    for (int i = 0; i < kHs / 8; ++i)
      *reinterpret_cast<uint32_t*>(dst + 8 * i) = pack2<T>(st.o[4 * i + 2 * r] * inv, st.o[4 * i + 2 * r + 1] * inv);
  }
}

template <class T, int kHs>
__device__ void consumer(const Sm90Params& p, uint32_t base, const CtaWork& w, int cw) {
  ConsumerState<kHs> st;
  st.lane = threadIdx.x % 32;
  const int warp = (threadIdx.x / 32) % 4;  // warp rank inside the warpgroup
  const int row0 = w.m0 + 64 * cw + 16 * warp + st.lane / 4;
  st.n_vis[0] = visible_keys(p, row0, w.kv_len);
  st.n_vis[1] = visible_keys(p, row0 + 8, w.kv_len);
  st.n_min = visible_keys(p, w.m0 + 64 * cw, w.kv_len);  // rows only see more keys further down
#pragma unroll
  for (int i = 0; i < kHs / 2; ++i) st.o[i] = 0.f;
  st.m[0] = st.m[1] = -INFINITY;
  st.l[0] = st.l[1] = 0.f;
  if (w.n_blocks > 0) consumer_mainloop<T, kHs>(p, base, w, cw, st);
  consumer_epilogue<T, kHs>(p, w, row0, st);
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

template <class T, int kHs>
__global__ void __launch_bounds__(kThreads, 1)
    flash_fwd_sm90_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                          const __grid_constant__ CUtensorMap tmap_v, const Sm90Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) unsigned char sm90_smem[];
  const uint32_t base = (smem_addr(sm90_smem) + 1023u) & ~1023u;
  const CtaWork w = cta_work(p);
  if (threadIdx.x == 0) init_barriers<kHs>(base);
  __syncthreads();
  if (threadIdx.x < 128) {  // warpgroup 0: producer
    setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x == 0) producer<kHs>(&tmap_q, &tmap_k, &tmap_v, base, w, w.h / p.group);
  } else {
    setmaxnreg_inc<kConsumerRegs>();
    consumer<T, kHs>(p, base, w, static_cast<int>(threadIdx.x / 128) - 1);
  }
#else
  (void)tmap_q;
  (void)tmap_k;
  (void)tmap_v;
  (void)p;
#endif
}

#if defined(TEMPER_HAS_SM90A)

// ---- host ----

using EncodeTiledFn = PFN_cuTensorMapEncodeTiled_v12000;

// cuTensorMapEncodeTiled from the driver through the runtime (the library does not link libcuda).
EncodeTiledFn encode_tiled_fn() {
  static const EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
#if CUDART_VERSION >= 12050
    TEMPER_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found));
#else
    TEMPER_CUDA_CHECK(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &f, cudaEnableDefault, &found));
#endif
    TEMPER_CHECK(found == cudaDriverEntryPointSuccess && f != nullptr,
                 "flash_forward_sm90: the driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// A 4-D view (HS, heads, T, B) of a [B,T,*] operand whose token rows are row_stride elements apart
// and whose head h starts at column h*HS (handles packed q|k|v and grouped kv heads); the byte
// strides grow with the dimension as cuTensorMapEncodeTiled documents. Boxes of 64 columns (128
// bytes, the swizzle span) x 1 head x box_rows tokens: in shared memory box_rows rows of 128 bytes.
// Tokens >= T read as zeros.
CUtensorMap make_tensor_map(DType dt, const void* ptr, int64_t hs, int64_t t, int64_t heads, int64_t b,
                            int64_t row_stride, int box_rows) {
  CUtensorMap map;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(hs), static_cast<cuuint64_t>(heads),
                              static_cast<cuuint64_t>(t), static_cast<cuuint64_t>(b)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(hs * 2), static_cast<cuuint64_t>(row_stride * 2),
                                 static_cast<cuuint64_t>(t * row_stride * 2)};  // bytes, of dims 1..3
  const cuuint32_t box[4] = {static_cast<cuuint32_t>(kSlabCols), 1, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t elem_strides[4] = {1, 1, 1, 1};
  const CUtensorMapDataType ty =
      dt == DType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const CUresult r = encode_tiled_fn()(&map, ty, 4, const_cast<void*>(ptr), dims, strides, box, elem_strides,
                                       CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                       CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TEMPER_CHECK(r == CUDA_SUCCESS, "flash_forward_sm90: cuTensorMapEncodeTiled failed ({})", static_cast<int>(r));
  return map;
}

bool device_is_sm90() {
  int dev = 0, major = 0, minor = 0;
  TEMPER_CUDA_CHECK(cudaGetDevice(&dev));
  TEMPER_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  TEMPER_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  return major == 9 && minor == 0;
}

int64_t query_blocks(const FlashAttnArgs& a) { return (a.t + kBr - 1) / kBr; }

// Dtype, head size, TMA alignment (16-byte base and row strides), 4-byte output stores, 32-bit
// coordinates and grid, and the device.
bool sm90_handles(const FlashAttnArgs& a) {
  if (!flash_mma_dtype_and_head_ok(a)) return false;
  if (!flash_aligned16(a.q, a.q_stride) || !flash_aligned16(a.k, a.kv_stride) || !flash_aligned16(a.v, a.kv_stride))
    return false;
  if (reinterpret_cast<uintptr_t>(a.out) % 4 != 0 || a.o_stride % 2 != 0) return false;
  if (a.nkv <= 0 || a.nh % a.nkv != 0 || a.t > INT_MAX - kBr || a.b > INT_MAX || a.nh > INT_MAX) return false;
  const int64_t mb = query_blocks(a);
  if (mb > 0 && a.b * a.nh > INT_MAX / mb) return false;
  return device_is_sm90();
}

template <class T, int kHs>
void launch_sm90(const FlashAttnArgs& a) {
  using L = Sm90Smem<kHs>;
  auto* kernel = flash_fwd_sm90_kernel<T, kHs>;
  TEMPER_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kBytes));
  const CUtensorMap tq = make_tensor_map(a.dtype, a.q, kHs, a.t, a.nh, a.b, a.q_stride, kBr);
  const CUtensorMap tk = make_tensor_map(a.dtype, a.k, kHs, a.t, a.nkv, a.b, a.kv_stride, kBc);
  const CUtensorMap tv = make_tensor_map(a.dtype, a.v, kHs, a.t, a.nkv, a.b, a.kv_stride, kBc);
  Sm90Params p{};
  p.out = a.out;
  p.lse = a.lse;
  p.key_lengths = a.key_lengths;
  p.o_stride = a.o_stride;
  p.t = static_cast<int>(a.t);
  p.nh = static_cast<int>(a.nh);
  p.group = static_cast<int>(a.group());
  p.m_blocks = static_cast<int>(query_blocks(a));
  p.scale = a.scale;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.causal = a.causal ? 1 : 0;
  const unsigned grid = static_cast<unsigned>(a.b * a.nh * query_blocks(a));
  kernel<<<grid, kThreads, L::kBytes, compute_stream()>>>(tq, tk, tv, p);
  TEMPER_CUDA_LAUNCH_CHECK();
}

template <class T>
void launch_sm90_hs(const FlashAttnArgs& a) {
  if (a.hs == 64)
    launch_sm90<T, 64>(a);
  else
    launch_sm90<T, 128>(a);
}

#endif  // TEMPER_HAS_SM90A

}  // namespace

bool flash_forward_sm90(const FlashAttnArgs& a) {
#if defined(TEMPER_HAS_SM90A)
  if (!sm90_handles(a)) return false;
  if (a.b == 0 || a.nh == 0 || a.t == 0) return true;  // nothing to write
  if (a.dtype == DType::BF16)
    launch_sm90_hs<__nv_bfloat16>(a);
  else
    launch_sm90_hs<__half>(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

}  // namespace temper::cuda
