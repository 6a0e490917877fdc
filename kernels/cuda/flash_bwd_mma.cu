// Flash-attention backward on tensor cores (mma.sync.m16n8k16, bf16/f16 in, f32 accumulate; sm_80+),
// FA2-style: the key/value side is the outer loop, so dk and dv accumulate in registers and dq is
// accumulated with f32 atomics into a [B,T,NH,HS] buffer that flash_bwd.cu zeroes, scales and casts.
//
// Grid: one CTA per (key block of kBc = 64 keys, kv head g, sequence b), flattened into blockIdx.x
// with the key block slowest, so the causal-heavy first key blocks of every head start first.
// 4 warps (128 threads); warp w owns keys 16w..16w+15 of the block. For every query head h of g's
// group and every query block of kBr rows (64 for HS 64, 32 for HS 128) that can see the key block
// (causal: from the diagonal on), with S^T, P^T, dP^T, dS^T kept TRANSPOSED (keys are the rows, as
// the A operand of dV and dK wants them):
//   S^T  = K_w Q^T                       (16 x kBr per warp, f32 accumulators)
//   P^T  = exp2(S^T scale log2e - lse2)   masked (causal, key length, T); lse2 = +inf -> 0
//   dV_w += P^T dO                        (P^T re-packed to 16 bits: accumulator = A fragment)
//   dP^T = V_w dO^T
//   dS^T = P^T (dP^T - D)                 (D_i = dout_i . o_i from the preprocessing kernel)
//   dK_w += dS^T Q
//   dS^T -> smem (16-bit); barrier; dQ_blk = dS K (each warp: 16 queries x 64 dims) -> atomicAdd
//   into dq_acc (unscaled; the postprocessing kernel applies the scale).
// After the last block dk = scale dK_w and dv = dV_w go through smem (reusing the K, V tiles) to
// 16-byte coalesced stores. A CTA whose first key is past the key length writes zero dk, dv rows.
//
// Shared memory: 16-bit tiles, rows padded by 16 bytes (see tile_offset); Q, dO and the stats are
// double-buffered (kStages = 2): the next query block is copied (cp.async) during this one.
//                    HS=64 (kBr 64)      HS=128 (kBr 32)
//   K, V             2 x 64 x 144 B      2 x 64 x 272 B
//   Q, dO x 2 stages 4 x 64 x 144 B      4 x 32 x 272 B
//   dS^T             64 x 144 B          64 x 80 B
//   lse2, D x 2      1 KB                0.5 KB
//   total            64 KB               73.5 KB   (dynamic, opted in above 48 KB)
// Registers per thread: dK, dV accumulators HS f32 (2 x 16 keys x HS / 32 lanes), S^T (P^T) and
// dP^T kBr / 2 f32 each, dQ 32 f32 (64 dims at a time), fragments.
#include <climits>

#include "kernels/cuda/flash_bwd.cuh"
#include "kernels/cuda/flash_mma.cuh"
#include "kernels/cuda/flash_paths.h"

namespace temper::cuda {
namespace {

using flash::smem_u32;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kBc = 16 * kWarps;  // keys per CTA: 16 per warp
constexpr int kStages = 2;        // Q, dO, lse2, D buffers
constexpr int kDqCols = 64;       // dq columns per pass (bounds the dq accumulator registers)

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile of kRowBytes-wide rows stored with
// 16 bytes of padding per row: the 8 rows an ldmatrix phase reads (or the rows a cp.async warp
// writes) start 16 bytes apart modulo 128, so they hit distinct banks. Unlike an XOR swizzle, the
// offset is affine in (row, chunk), so unrolled loops address [lane base + immediate] and keep no
// per-iteration address registers (with the swizzle, HS 128 spilled).
template <int kRowBytes>
__device__ __forceinline__ uint32_t tile_offset(int row, int chunk) {
  return static_cast<uint32_t>(row * (kRowBytes + 16) + chunk * 16);
}

// Tile sizes and the shared-memory layout for one head size.
template <int kHs_>
struct Cfg {
  static constexpr int kHs = kHs_;
  static constexpr int kBr = kHs == 128 ? 32 : 64;            // queries per inner block (registers: see top)
  static constexpr int kNt = kBr / 8;                         // n-tiles of 8 queries in S^T / dP^T
  static constexpr int kMTiles = kBr / 16;                    // 16-row query tiles of the dq product
  static constexpr int kDqWarpCols = kHs * kMTiles / kWarps;  // dq columns per warp
  static constexpr int kRowBytes = kHs * 2;                   // one K, V, Q or dO row (unpadded)
  static constexpr int kDsRowBytes = kBr * 2;                 // one dS^T row (a key)
  static constexpr int kK = 0;
  static constexpr int kV = kK + kBc * (kRowBytes + 16);
  static constexpr int kQ = kV + kBc * (kRowBytes + 16);  // kStages tiles
  static constexpr int kQTile = kBr * (kRowBytes + 16);   // bytes between stages
  static constexpr int kDo = kQ + kStages * kQTile;
  static constexpr int kDs = kDo + kStages * kQTile;
  static constexpr int kLse2 = kDs + kBc * (kDsRowBytes + 16);  // kStages x kBr f32
  static constexpr int kDelta = kLse2 + kStages * kBr * 4;
  static constexpr int kBytes = kDelta + kStages * kBr * 4;
  static_assert(kWarps % kMTiles == 0 && kDqWarpCols % kDqCols == 0, "dq product: whole warp tiles");
  static_assert(kFlashBwdRowPad % kBr == 0, "stats rows are padded to whole query blocks");
  static_assert(kBc % kBr == 0, "a key block starts on a query block boundary (causal start)");
};

template <class T>
struct MmaBwdParams {
  const T *q, *k, *v, *dout;
  T *dk, *dv;
  float* dq_acc;  // [B,T,NH,HS]
  int64_t q_stride, kv_stride, o_stride, dkv_stride;
  int b, t, nh, nkv, group;
  float scale;
  FlashBwdRows rows;
  FlashKeyMask mask;
};

// Copies rows [row0, row0 + kRows) of one head (kHs elements from column col) of a row-major
// operand (row r of this sequence at base + (seq_row + r) * stride) into a padded smem tile;
// rows >= t are zero-filled.
template <int kHs, int kRows, class T>
__device__ __forceinline__ void load_tile(uint32_t tile, const T* base, int row0, int t, int64_t seq_row,
                                          int64_t stride, int col) {
  constexpr int kChunks = kHs / 8;
  static_assert(kRows * kChunks % kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = 0; i < kRows * kChunks / kThreads; ++i) {
    const int id = static_cast<int>(threadIdx.x) + i * kThreads, r = id / kChunks, ch = id % kChunks;
    const bool valid = row0 + r < t;
    const T* src = valid ? base + (seq_row + row0 + r) * stride + col + ch * 8 : base;
    flash::cp_async_16(tile + tile_offset<kHs * 2>(r, ch), src, valid);
  }
}

// Where one step of a CTA's loop lives: query head h, first query q0.
struct QueryBlock {
  int h, q0;
};

// One CTA's walk: the query heads of kv head g times the query blocks [qb_begin, qb_begin + n_qb).
struct CtaWalk {
  int b, g, key0, key_len, qb_begin, n_qb, n_iter;
  template <int kBr>
  __device__ QueryBlock at(int it, int group) const {
    return {g * group + it / n_qb, (qb_begin + it % n_qb) * kBr};
  }
};

template <class C, class T>
__device__ __forceinline__ CtaWalk cta_walk(const MmaBwdParams<T>& p) {
  const int bg_count = p.b * p.nkv;
  const int bg = static_cast<int>(blockIdx.x % bg_count), kb = static_cast<int>(blockIdx.x / bg_count);
  CtaWalk w;
  w.b = bg / p.nkv;
  w.g = bg % p.nkv;
  w.key0 = kb * kBc;
  w.key_len = static_cast<int>(p.mask.key_limit(w.b));
  w.qb_begin = p.mask.causal ? w.key0 / C::kBr : 0;  // earlier queries see none of these keys
  w.n_qb = (p.t + C::kBr - 1) / C::kBr - w.qb_begin;
  w.n_iter = p.group * w.n_qb;
  return w;
}

// Issues (and commits) the copies of query block qb into stage `stage`: Q, dO, lse2, D.
template <class C, class T>
__device__ __forceinline__ void load_query_block(const MmaBwdParams<T>& p, const CtaWalk& w, QueryBlock qb,
                                                 uint32_t smem, int stage) {
  constexpr int kBr = C::kBr, kHs = C::kHs;
  const int64_t seq_row = static_cast<int64_t>(w.b) * p.t;
  load_tile<kHs, kBr>(smem + C::kQ + stage * C::kQTile, p.q, qb.q0, p.t, seq_row, p.q_stride, qb.h * kHs);
  load_tile<kHs, kBr>(smem + C::kDo + stage * C::kQTile, p.dout, qb.q0, p.t, seq_row, p.o_stride, qb.h * kHs);
  // Stats rows are padded to whole blocks (rows >= T hold lse2 = +inf, D = 0): no bounds checks.
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < 2 * kBr / 4) {
    const bool is_delta = tid >= kBr / 4;
    const int chunk = tid % (kBr / 4);
    const int64_t row = (static_cast<int64_t>(w.b) * p.nh + qb.h) * p.rows.t_pad + qb.q0;
    const float* src = (is_delta ? p.rows.delta : p.rows.lse2) + row + chunk * 4;
    const int dst = (is_delta ? C::kDelta : C::kLse2) + stage * kBr * 4 + chunk * 16;
    flash::cp_async_16(smem + dst, src, true);
  }
  flash::cp_async_commit();
}

// acc[2j], acc[2j+1] (n-tiles of 8 columns) += A . X^T: A = rows a_row0..+15 of tile a (16 x kK),
// X = the first 8 kN rows of the [n][k] tile x. The S^T = K Q^T and dP^T = V dO^T products.
template <int kK, int kN, int kRowBytes, class T>
__device__ __forceinline__ void mma_a_xt(float (&acc)[kN][4], uint32_t a_tile, int a_row0, uint32_t x_tile) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
    uint32_t a[4];
    flash::ldmatrix_x4(a, a_tile + tile_offset<kRowBytes>(a_row0 + lane % 16, 2 * kk + lane / 16));
#pragma unroll
    for (int np = 0; np < kN / 2; ++np) {
      uint32_t b[4];
      const int n = np * 16 + lane % 8 + 8 * (lane / 16);
      flash::ldmatrix_x4(b, x_tile + tile_offset<kRowBytes>(n, 2 * kk + (lane / 8) % 2));
      flash::mma_m16n8k16<T>(acc[2 * np], a, b[0], b[1]);
      flash::mma_m16n8k16<T>(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// acc (16 x 8 kN, from column col0 of X) += A . X: A's 16 x kK fragments in registers, X the
// row-major [k][n] tile x (rows 0..kK). dV += P^T dO, dK += dS^T Q and dQ = dS K.
template <int kK, int kN, int kRowBytes, class T>
__device__ __forceinline__ void mma_frag_x(float (&acc)[kN][4], const uint32_t (&a)[kK / 16][4], uint32_t x_tile,
                                           int col0) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
#pragma unroll
    for (int np = 0; np < kN / 2; ++np) {
      uint32_t b[4];
      const int chunk = (col0 + np * 16) / 8 + lane / 16;
      flash::ldmatrix_x4_trans(b, x_tile + tile_offset<kRowBytes>(kk * 16 + lane % 16, chunk));
      flash::mma_m16n8k16<T>(acc[2 * np], a[kk], b[0], b[1]);
      flash::mma_m16n8k16<T>(acc[2 * np + 1], a[kk], b[2], b[3]);
    }
  }
}

// Which (key, query) pairs of the current block are masked, as one lane sees them.
struct BlockMask {
  bool needed;  // some pair of the block is masked (else the checks are skipped)
  bool causal;
  int key_len, t;      // keys >= key_len and queries >= t are masked
  int key_row, q_col;  // this lane's first key (accumulator row g) and first query (column 2c)
  __device__ bool visible(int key, int query) const { return query < t && key < key_len && (!causal || key <= query); }
};

// S^T (in acc) -> P^T in place: exp2(s * scale log2e - lse2[query]), zero where masked.
template <int kNt>
__device__ __forceinline__ void softmax_probs(float (&acc)[kNt][4], const float* lse2, float scale_log2,
                                              const BlockMask& m) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      float pr = flash::exp2_approx(acc[nt][r] * scale_log2 - lse2[nt * 8 + flash::frag_c_col(lane, r)]);
      if (m.needed && !m.visible(m.key_row + 8 * (r / 2), m.q_col + nt * 8 + r % 2)) pr = 0.f;
      acc[nt][r] = pr;
    }
  }
}

// dP^T (in dp) -> dS^T in place: P^T (dP^T - D[query]).
template <int kNt>
__device__ __forceinline__ void softmax_grad(float (&dp)[kNt][4], const float (&pr)[kNt][4], const float* delta) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int nt = 0; nt < kNt; ++nt) {
#pragma unroll
    for (int r = 0; r < 4; ++r) dp[nt][r] = pr[nt][r] * (dp[nt][r] - delta[nt * 8 + flash::frag_c_col(lane, r)]);
  }
}

template <class T, int kNt>
__device__ __forceinline__ void pack_frags(uint32_t (&a)[kNt / 2][4], const float (&acc)[kNt][4]) {
#pragma unroll
  for (int kk = 0; kk < kNt / 2; ++kk) flash::acc_to_frag_a<T>(a[kk], acc[2 * kk], acc[2 * kk + 1]);
}

// Stores this warp's 16 rows of dS^T (A fragments, 16-bit) into the padded [kBc][kBr] tile.
template <int kBr>
__device__ __forceinline__ void store_ds(uint32_t ds_tile, const uint32_t (&a)[kBr / 16][4]) {
  const int lane = threadIdx.x % 32, row = 16 * (threadIdx.x / 32) + lane / 4;
  const uint32_t in_chunk = 4 * (lane % 4);
#pragma unroll
  for (int kk = 0; kk < kBr / 16; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {  // a[r]: row g / g+8 (r % 2), n-tile 2kk / 2kk+1 (r / 2)
      const uint32_t addr = ds_tile + tile_offset<kBr * 2>(row + 8 * (r % 2), 2 * kk + r / 2) + in_chunk;
      asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(a[kk][r]) : "memory");
    }
  }
}

// dq_acc[q, dims] += v0, v1 for the two adjacent dims at dst (8-byte aligned).
__device__ __forceinline__ void atomic_add2(float* dst, float v0, float v1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(v0, v1));  // one vector reduction (sm_90+)
#else
  atomicAdd(dst, v0);
  atomicAdd(dst + 1, v1);
#endif
}

// dq_acc rows of this query block += dS K. Warp w: queries 16 (w % kMTiles).. + 15, dims
// kDqWarpCols (w / kMTiles).. in passes of kDqCols.
template <class C, class T>
__device__ __forceinline__ void accumulate_dq(const MmaBwdParams<T>& p, const CtaWalk& w, QueryBlock qb,
                                              uint32_t ds_tile, uint32_t k_tile) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int m0 = 16 * (warp % C::kMTiles), col_begin = C::kDqWarpCols * (warp / C::kMTiles);
  uint32_t a[kBc / 16][4];  // dS rows m0.. (queries) x all keys, from the transposed dS^T tile
#pragma unroll
  for (int kk = 0; kk < kBc / 16; ++kk) {
    const int key = kk * 16 + lane % 8 + 8 * (lane / 16);
    flash::ldmatrix_x4_trans(a[kk], ds_tile + tile_offset<C::kDsRowBytes>(key, m0 / 8 + (lane / 8) % 2));
  }
  const int q_row = qb.q0 + m0 + lane / 4;
  const int64_t head_col = static_cast<int64_t>(qb.h) * C::kHs + 2 * (lane % 4);
#pragma unroll
  for (int c0 = col_begin; c0 < col_begin + C::kDqWarpCols; c0 += kDqCols) {
    float acc[kDqCols / 8][4] = {};
    mma_frag_x<kBc, kDqCols / 8, C::kRowBytes, T>(acc, a, k_tile, c0);
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // accumulator rows g and g + 8
      const int q = q_row + 8 * half;
      if (q >= p.t) continue;
      float* dst = p.dq_acc + (static_cast<int64_t>(w.b) * p.t + q) * p.nh * C::kHs + head_col + c0;
#pragma unroll
      for (int nt = 0; nt < kDqCols / 8; ++nt) atomic_add2(dst + nt * 8, acc[nt][2 * half], acc[nt][2 * half + 1]);
    }
  }
}

// One query block's contribution: this warp's dK, dV accumulators (its 16 keys) and dq_acc.
template <class C, class T>
__device__ __forceinline__ void process_block(const MmaBwdParams<T>& p, const CtaWalk& w, QueryBlock qb, uint32_t smem,
                                              const unsigned char* smem_ptr, int stage, float (&dk)[C::kHs / 8][4],
                                              float (&dv)[C::kHs / 8][4]) {
  constexpr int kBr = C::kBr, kHs = C::kHs, kNt = C::kNt;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const uint32_t q_tile = smem + C::kQ + stage * C::kQTile, do_tile = smem + C::kDo + stage * C::kQTile;
  const float* lse2 = reinterpret_cast<const float*>(smem_ptr + C::kLse2) + stage * kBr;
  const float* delta = reinterpret_cast<const float*>(smem_ptr + C::kDelta) + stage * kBr;

  BlockMask m;
  m.causal = p.mask.causal;
  m.key_len = w.key_len;
  m.t = p.t;
  m.needed = (m.causal && qb.q0 < w.key0 + kBc - 1) || w.key0 + kBc > w.key_len || qb.q0 + kBr > p.t;
  m.key_row = w.key0 + 16 * warp + lane / 4;
  m.q_col = qb.q0 + 2 * (lane % 4);

  float s[kNt][4] = {};
  mma_a_xt<kHs, kNt, kHs * 2, T>(s, smem + C::kK, 16 * warp, q_tile);
  softmax_probs(s, lse2, p.scale * flash::kLog2e, m);
  uint32_t frag[kBr / 16][4];
  pack_frags<T>(frag, s);
  mma_frag_x<kBr, kHs / 8, kHs * 2, T>(dv, frag, do_tile, 0);

  float dp[kNt][4] = {};
  mma_a_xt<kHs, kNt, kHs * 2, T>(dp, smem + C::kV, 16 * warp, do_tile);
  softmax_grad(dp, s, delta);
  pack_frags<T>(frag, dp);
  store_ds<kBr>(smem + C::kDs, frag);
  mma_frag_x<kBr, kHs / 8, kHs * 2, T>(dk, frag, q_tile, 0);
  __syncthreads();  // every warp's dS^T rows in smem
  accumulate_dq<C>(p, w, qb, smem + C::kDs, smem + C::kK);
}

// This warp's accumulators (16 rows x kHs, times `scale`) into the padded tile, 16-bit.
template <int kHs, class T>
__device__ __forceinline__ void stage_rows(uint32_t tile, const float (&acc)[kHs / 8][4], float scale) {
  const int lane = threadIdx.x % 32, row = 16 * (threadIdx.x / 32) + lane / 4;
#pragma unroll
  for (int nt = 0; nt < kHs / 8; ++nt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const uint32_t v = flash::pack2<T>(scale * acc[nt][2 * half], scale * acc[nt][2 * half + 1]);
      const uint32_t addr = tile + tile_offset<kHs * 2>(row + 8 * half, nt) + 4 * (lane % 4);
      asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
    }
  }
}

// Element offset of chunk ch (8 elements) of row key0 + r of kv head g in dk / dv.
template <class C, class T>
__device__ __forceinline__ int64_t dkdv_offset(const MmaBwdParams<T>& p, const CtaWalk& w, int r, int ch) {
  return (static_cast<int64_t>(w.b) * p.t + w.key0 + r) * p.dkv_stride + w.g * C::kHs + ch * 8;
}

// Rows key0.. (< t) of dk and dv of kv head g from the staged (padded) smem tiles.
template <class C, class T>
__device__ __forceinline__ void store_dkdv(const MmaBwdParams<T>& p, const CtaWalk& w, const unsigned char* smem_ptr) {
  constexpr int kChunks = C::kHs / 8;
  for (int id = threadIdx.x; id < kBc * kChunks; id += kThreads) {
    const int r = id / kChunks, ch = id % kChunks;
    if (w.key0 + r >= p.t) continue;
    const int64_t off = dkdv_offset<C>(p, w, r, ch);
    *reinterpret_cast<uint4*>(p.dk + off) =
        *reinterpret_cast<const uint4*>(smem_ptr + C::kK + tile_offset<C::kRowBytes>(r, ch));
    *reinterpret_cast<uint4*>(p.dv + off) =
        *reinterpret_cast<const uint4*>(smem_ptr + C::kV + tile_offset<C::kRowBytes>(r, ch));
  }
}

// Rows key0.. (< t) of dk and dv of kv head g set to zero (keys no query sees).
template <class C, class T>
__device__ __forceinline__ void zero_dkdv(const MmaBwdParams<T>& p, const CtaWalk& w) {
  constexpr int kChunks = C::kHs / 8;
  for (int id = threadIdx.x; id < kBc * kChunks; id += kThreads) {
    const int r = id / kChunks, ch = id % kChunks;
    if (w.key0 + r >= p.t) continue;
    const int64_t off = dkdv_offset<C>(p, w, r, ch);
    *reinterpret_cast<uint4*>(p.dk + off) = make_uint4(0, 0, 0, 0);
    *reinterpret_cast<uint4*>(p.dv + off) = make_uint4(0, 0, 0, 0);
  }
}

// Register budget: HS 64 fits 3 CTAs per SM (<= 168 registers), HS 128 takes up to 255.
template <int kHs, class T>
__global__ void __launch_bounds__(kThreads, kHs == 64 ? 3 : 1) flash_bwd_mma_kernel(MmaBwdParams<T> p) {
  using C = Cfg<kHs>;
  extern __shared__ __align__(128) unsigned char smem_ptr[];
  const uint32_t smem = smem_u32(smem_ptr);
  const CtaWalk w = cta_walk<C>(p);
  if (w.key0 >= w.key_len) {  // no query sees these keys
    zero_dkdv<C>(p, w);
    return;
  }
  const int64_t seq_row = static_cast<int64_t>(w.b) * p.t;
  // Keys at or past the key length are zero-filled like the T tail (as the forward does): their
  // P is 0, but 0 * (non-finite padding) would still be NaN in dS and dq.
  load_tile<kHs, kBc>(smem + C::kK, p.k, w.key0, w.key_len, seq_row, p.kv_stride, w.g * kHs);
  load_tile<kHs, kBc>(smem + C::kV, p.v, w.key0, w.key_len, seq_row, p.kv_stride, w.g * kHs);
  flash::cp_async_commit();
  load_query_block<C>(p, w, w.at<C::kBr>(0, p.group), smem, 0);

  float dk[kHs / 8][4] = {}, dv[kHs / 8][4] = {};
  for (int it = 0; it < w.n_iter; ++it) {
    const int stage = it % kStages;
    if (it + 1 < w.n_iter) {
      load_query_block<C>(p, w, w.at<C::kBr>(it + 1, p.group), smem, (stage + 1) % kStages);
      flash::cp_async_wait<1>();  // everything but the block just issued has landed
    } else {
      flash::cp_async_wait<0>();
    }
    __syncthreads();  // this stage (and K, V) visible to every warp
    process_block<C>(p, w, w.at<C::kBr>(it, p.group), smem, smem_ptr, stage, dk, dv);
    __syncthreads();  // every warp done with this stage and with dS^T before they are overwritten
  }
  stage_rows<kHs, T>(smem + C::kK, dk, p.scale);  // K, V are free after the loop's last barrier
  stage_rows<kHs, T>(smem + C::kV, dv, 1.f);
  __syncthreads();
  store_dkdv<C>(p, w, smem_ptr);
}

template <class T>
MmaBwdParams<T> mma_params(const FlashAttnArgs& a, const FlashBwdRows& rows, float* dq_acc) {
  MmaBwdParams<T> p;
  p.q = static_cast<const T*>(a.q);
  p.k = static_cast<const T*>(a.k);
  p.v = static_cast<const T*>(a.v);
  p.dout = static_cast<const T*>(a.dout);
  p.dk = static_cast<T*>(a.dk);
  p.dv = static_cast<T*>(a.dv);
  p.dq_acc = dq_acc;
  p.q_stride = a.q_stride;
  p.kv_stride = a.kv_stride;
  p.o_stride = a.o_stride;
  p.dkv_stride = a.dkv_stride;
  p.b = static_cast<int>(a.b);
  p.t = static_cast<int>(a.t);
  p.nh = static_cast<int>(a.nh);
  p.nkv = static_cast<int>(a.nkv);
  p.group = static_cast<int>(a.group());
  p.scale = a.scale;
  p.rows = rows;
  p.mask = flash_key_mask(a);
  return p;
}

template <int kHs, class T>
void launch_mma(const FlashAttnArgs& a, const FlashBwdRows& rows, float* dq_acc) {
  constexpr int kBytes = Cfg<kHs>::kBytes;
  static const bool opted_in = [] {  // once per instantiation (one device per process)
    TEMPER_CUDA_CHECK(
        cudaFuncSetAttribute(flash_bwd_mma_kernel<kHs, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
    return true;
  }();
  (void)opted_in;
  const int64_t blocks = (a.t + kBc - 1) / kBc * a.b * a.nkv;
  TEMPER_CHECK(blocks <= INT_MAX && a.b * a.nkv <= INT_MAX && a.t <= INT_MAX - kBc && a.nh * a.t <= INT_MAX,
               "flash_attention_backward (cuda): B {} x T {} x NH {} is too large for the grid", a.b, a.t, a.nh);
  flash_bwd_mma_kernel<kHs, T>
      <<<static_cast<unsigned>(blocks), kThreads, kBytes, compute_stream()>>>(mma_params<T>(a, rows, dq_acc));
  TEMPER_CUDA_LAUNCH_CHECK();
}

int device_major() {
  static const int major = [] {
    int dev = 0, m = 0;
    TEMPER_CUDA_CHECK(cudaGetDevice(&dev));
    TEMPER_CUDA_CHECK(cudaDeviceGetAttribute(&m, cudaDevAttrComputeCapabilityMajor, dev));
    return m;
  }();
  return major;
}

}  // namespace

bool flash_backward_mma_supported(const FlashAttnArgs& a) {
  return flash_mma_dtype_and_head_ok(a) && flash_aligned16(a.q, a.q_stride) && flash_aligned16(a.k, a.kv_stride) &&
         flash_aligned16(a.v, a.kv_stride) && flash_aligned16(a.dout, a.o_stride) &&
         flash_aligned16(a.dk, a.dkv_stride) && flash_aligned16(a.dv, a.dkv_stride) && device_major() >= 8;
}

void flash_backward_mma(const FlashAttnArgs& a, const FlashBwdRows& rows, float* dq_acc) {
  const bool bf16 = a.dtype == DType::BF16;
  if (a.hs == 64) {
    bf16 ? launch_mma<64, __nv_bfloat16>(a, rows, dq_acc) : launch_mma<64, __half>(a, rows, dq_acc);
  } else {
    bf16 ? launch_mma<128, __nv_bfloat16>(a, rows, dq_acc) : launch_mma<128, __half>(a, rows, dq_acc);
  }
}

}  // namespace temper::cuda
