// CUDA dequantize: a QuantizedWeight's GGML blocks -> W [out, in] in f32, bf16 or f16, for the
// quantized matmuls (kernels/quantized_matmul.h). Types: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K
// Q5_K Q6_K.
//
// The f32 values are bit-identical to the CPU dequantize_row (kernels/ref/ggml_dequant*_ref.cpp): the
// same f32 operations in the same order, each rounded on its own (__fmul_rn / __fadd_rn / __fsub_rn,
// which nvcc never contracts into an FMA). bf16/f16 outputs round that f32 value to nearest even.
//
// Since in is a multiple of the block size, row o's blocks follow row o-1's with no gap: the weight is
// one flat stream of blocks, and flat element g lives in block g / block_size. Blocks start at any byte
// offset (Q4_0: 18 bytes), so all reads are single bytes (their warp's bytes are contiguous, so they
// coalesce into few sectors); the f16 scales are assembled from two bytes.
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ggml_types.h"

namespace temper::cuda {
namespace {

// Outputs per thread: 8 consecutive elements of one block (8 divides every sub-block size: 16, 32),
// written as one 16-byte store (bf16/f16) or two (f32) when the output is 16-byte aligned.
constexpr int kChunk = 8;

__device__ __forceinline__ float f16_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }

// ---- one chunk of 8 outputs from a block: decode(block, e0, y) fills y[k] = element e0 + k ----

// f16 d | 16 bytes of nibbles (element e: low nibble of byte e, e < 16; high nibble of byte e - 16).
// y = d * (q - 8).
struct BlockQ4_0 {
  static constexpr int kElems = 32, kBytes = 18;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const float d = f16_at(b);
    const uint8_t* qs = b + 2 + e0 % 16;
    const int shift = e0 < 16 ? 0 : 4;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = mul(d, static_cast<float>(((qs[k] >> shift) & 0x0f) - 8));
  }
};

// f16 d | f16 m | 16 bytes of nibbles as Q4_0: y = (d * q) + m.
struct BlockQ4_1 {
  static constexpr int kElems = 32, kBytes = 20;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t* qs = b + 4 + e0 % 16;
    const int shift = e0 < 16 ? 0 : 4;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = __fadd_rn(mul(d, static_cast<float>((qs[k] >> shift) & 0x0f)), m);
  }
};

// The 5-bit quant of element e0 + k: nibble as Q4_0 | bit k of the high-bit byte (bit e of the
// little-endian u32 lives in byte e / 8, and e0 is a multiple of 8).
__device__ __forceinline__ int q5_quant(const uint8_t* qs, int shift, int high_byte, int k) {
  return ((qs[k] >> shift) & 0x0f) | (((high_byte >> k) & 1) << 4);
}

// f16 d | u32 high bits | 16 bytes of nibbles: y = d * (q - 16).
struct BlockQ5_0 {
  static constexpr int kElems = 32, kBytes = 22;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const float d = f16_at(b);
    const int high = b[2 + e0 / 8];
    const uint8_t* qs = b + 6 + e0 % 16;
    const int shift = e0 < 16 ? 0 : 4;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = mul(d, static_cast<float>(q5_quant(qs, shift, high, k) - 16));
  }
};

// f16 d | f16 m | u32 high bits | 16 bytes of nibbles: y = (d * q) + m.
struct BlockQ5_1 {
  static constexpr int kElems = 32, kBytes = 24;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const int high = b[4 + e0 / 8];
    const uint8_t* qs = b + 8 + e0 % 16;
    const int shift = e0 < 16 ? 0 : 4;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = __fadd_rn(mul(d, static_cast<float>(q5_quant(qs, shift, high, k))), m);
  }
};

// f16 d | 32 x int8: y = q * d.
struct BlockQ8_0 {
  static constexpr int kElems = 32, kBytes = 34;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const float d = f16_at(b);
    const uint8_t* qs = b + 2 + e0;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = mul(static_cast<float>(static_cast<int8_t>(qs[k])), d);
  }
};

// Q4_K/Q5_K sub-block j's 6-bit scale and min from the 12 packed bytes at s (see k4_scale_min in
// ggml_dequant_k_ref.cpp).
__device__ __forceinline__ void k4_scale_min(const uint8_t* s, int j, float* sc, float* mn) {
  if (j < 4) {
    *sc = static_cast<float>(s[j] & 63);
    *mn = static_cast<float>(s[j + 4] & 63);
  } else {
    *sc = static_cast<float>((s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30));
    *mn = static_cast<float>((s[j + 4] >> 4) | ((s[j] >> 2) & 0x30));
  }
}

// f16 d | f16 dmin | 12 bytes of scales/mins | 128 bytes of nibbles. Element 32 j + l: byte
// (j / 2) * 32 + l, low nibble for even j: y = ((d * sc) * q) - (dmin * m).
struct BlockQ4_K {
  static constexpr int kElems = 256, kBytes = 144;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const int j = e0 / 32, l0 = e0 % 32, shift = 4 * (j % 2);
    float sc, mn;
    k4_scale_min(b + 4, j, &sc, &mn);
    const float dl = mul(f16_at(b), sc), ml = mul(f16_at(b + 2), mn);
    const uint8_t* qs = b + 16 + (j / 2) * 32 + l0;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) y[k] = __fsub_rn(mul(dl, static_cast<float>((qs[k] >> shift) & 0x0f)), ml);
  }
};

// f16 d | f16 dmin | 12 bytes of scales/mins | 32 bytes of fifth bits (bit j of byte l) | 128 bytes of
// nibbles as Q4_K.
struct BlockQ5_K {
  static constexpr int kElems = 256, kBytes = 176;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const int j = e0 / 32, l0 = e0 % 32, shift = 4 * (j % 2);
    float sc, mn;
    k4_scale_min(b + 4, j, &sc, &mn);
    const float dl = mul(f16_at(b), sc), ml = mul(f16_at(b + 2), mn);
    const uint8_t* qh = b + 16 + l0;
    const uint8_t* qs = b + 48 + (j / 2) * 32 + l0;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) {
      const int q = ((qs[k] >> shift) & 0x0f) | (((qh[k] >> j) & 1) << 4);
      y[k] = __fsub_rn(mul(dl, static_cast<float>(q)), ml);
    }
  }
};

// 128 bytes of low nibbles | 64 bytes of 2 high bits | 16 int8 scales | f16 d. Element e = 128 h + r
// (sub-block e / 16): low nibble from byte 64 h + r % 64 (high nibble when r >= 64), high bits from
// byte 32 h + r % 32 at bit 2 * (r / 32): y = (d * sc) * (q - 32).
struct BlockQ6_K {
  static constexpr int kElems = 256, kBytes = 210;
  __device__ static void decode(const uint8_t* b, int e0, float (&y)[kChunk]) {
    const int h = e0 / 128, r0 = e0 % 128;
    const float dl = mul(f16_at(b + 208), static_cast<float>(static_cast<int8_t>(b[192 + e0 / 16])));
    const uint8_t* ql = b + 64 * h + r0 % 64;
    const uint8_t* qh = b + 128 + 32 * h + r0 % 32;
    const int lo_shift = 4 * (r0 / 64), hi_shift = 2 * (r0 / 32);
#pragma unroll
    for (int k = 0; k < kChunk; ++k) {
      const int q = ((ql[k] >> lo_shift) & 0x0f) | (((qh[k] >> hi_shift) & 3) << 4);
      y[k] = mul(dl, static_cast<float>(q - 32));
    }
  }
};

// ---- stores ----

__device__ __forceinline__ uint32_t bits16(float v, __nv_bfloat16*) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
__device__ __forceinline__ uint32_t bits16(float v, __half*) { return __half_as_ushort(__float2half_rn(v)); }

__device__ __forceinline__ void store_chunk(float* dst, const float (&y)[kChunk], bool vec) {
  if (vec) {
    reinterpret_cast<float4*>(dst)[0] = make_float4(y[0], y[1], y[2], y[3]);
    reinterpret_cast<float4*>(dst)[1] = make_float4(y[4], y[5], y[6], y[7]);
    return;
  }
#pragma unroll
  for (int k = 0; k < kChunk; ++k) dst[k] = y[k];
}

// bf16 / f16: the 8 values packed into one 16-byte store (element k in the low half of word k / 2 for
// even k: little-endian memory order).
template <class T>
__device__ __forceinline__ void store_chunk(T* dst, const float (&y)[kChunk], bool vec) {
  uint32_t h[kChunk];
#pragma unroll
  for (int k = 0; k < kChunk; ++k) h[k] = bits16(y[k], static_cast<T*>(nullptr));
  if (vec) {
    *reinterpret_cast<uint4*>(dst) =
        make_uint4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
    return;
  }
  unsigned short* d16 = reinterpret_cast<unsigned short*>(dst);
#pragma unroll
  for (int k = 0; k < kChunk; ++k) d16[k] = static_cast<unsigned short>(h[k]);
}

// ---- kernels ----

// Block types. Grid-stride loop over chunks of kChunk outputs: thread c writes flat elements
// [8c, 8c + 8), all in block 8c / kElems, so a warp writes 256 consecutive outputs (512 bytes of
// bf16) and reads a contiguous run of 8 (Q-types) or 1 (K-quants) blocks. No shared memory.
template <class Block, class TOut>
__global__ void dequantize_blocks_kernel(TOut* __restrict__ w, const uint8_t* __restrict__ src, int64_t chunks,
                                         bool vec) {
  for (int64_t c = global_thread(); c < chunks; c += grid_threads()) {
    const uint64_t e = static_cast<uint64_t>(c) * kChunk;
    float y[kChunk];
    Block::decode(src + e / Block::kElems * Block::kBytes, static_cast<int>(e % Block::kElems), y);
    store_chunk(w + e, y, vec);
  }
}

// Plain f32 / f16 / bf16 elements: grid-stride, one thread per element per step; bytewise loads
// (the blocks may sit at any offset). n need not be a multiple of anything.
__device__ __forceinline__ float plain_at(const uint8_t* p, int64_t i, GgmlType t) {
  if (t == GgmlType::F32) {
    const uint8_t* q = p + 4 * i;
    return __uint_as_float(q[0] | (q[1] << 8) | (q[2] << 16) | (static_cast<uint32_t>(q[3]) << 24));
  }
  const uint8_t* q = p + 2 * i;
  const uint32_t h = q[0] | (q[1] << 8);
  return t == GgmlType::F16 ? __half2float(__ushort_as_half(static_cast<unsigned short>(h))) : __uint_as_float(h << 16);
}

template <class TOut>
__global__ void dequantize_plain_kernel(TOut* __restrict__ w, const uint8_t* __restrict__ src, int64_t n, GgmlType t) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) w[i] = from_f32<TOut>(plain_at(src, i, t));
}

// ---- host ----

template <class Block, class TOut>
void launch_blocks(TOut* w, const uint8_t* src, int64_t n) {
  const int64_t chunks = n / kChunk;  // n is a multiple of kElems, itself a multiple of kChunk
  const bool vec = reinterpret_cast<uintptr_t>(w) % 16 == 0;
  dequantize_blocks_kernel<Block, TOut><<<grid_for(chunks), kBlock, 0, compute_stream()>>>(w, src, chunks, vec);
  TEMPER_CUDA_LAUNCH_CHECK();
}

template <class TOut>
void launch_for_type(TOut* w, const uint8_t* src, GgmlType t, int64_t n) {
  switch (t) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
      dequantize_plain_kernel<TOut><<<grid_for(n), kBlock, 0, compute_stream()>>>(w, src, n, t);
      TEMPER_CUDA_LAUNCH_CHECK();
      return;
    case GgmlType::Q4_0:
      return launch_blocks<BlockQ4_0>(w, src, n);
    case GgmlType::Q4_1:
      return launch_blocks<BlockQ4_1>(w, src, n);
    case GgmlType::Q5_0:
      return launch_blocks<BlockQ5_0>(w, src, n);
    case GgmlType::Q5_1:
      return launch_blocks<BlockQ5_1>(w, src, n);
    case GgmlType::Q8_0:
      return launch_blocks<BlockQ8_0>(w, src, n);
    case GgmlType::Q4_K:
      return launch_blocks<BlockQ4_K>(w, src, n);
    case GgmlType::Q5_K:
      return launch_blocks<BlockQ5_K>(w, src, n);
    case GgmlType::Q6_K:
      return launch_blocks<BlockQ6_K>(w, src, n);
    default:
      TEMPER_CHECK(false, "dequantize (cuda): no kernel for {} weights", ggml_type_name(t));
  }
}

void check_dequantize_args(const Tensor& w, const QuantizedWeight& q) {
  check_on_cuda(w, "dequantize", "w");
  check_on_cuda(q.blocks, "dequantize", "q.blocks");
  const GgmlTypeTraits& traits = ggml_type_traits(q.type);
  TEMPER_CHECK(quantized_weight_supported(q.type, Device::Cuda),
               "dequantize (cuda): {} weights are not supported on CUDA (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K "
               "Q5_K Q6_K)",
               traits.name);
  TEMPER_CHECK(q.out >= 0 && q.in >= 0 && q.in % traits.block_size == 0,
               "dequantize (cuda): a [{}, {}] {} weight (the row length must be a multiple of {})", q.out, q.in,
               traits.name, traits.block_size);
  TEMPER_CHECK(w.ndim() == 2 && w.dim(0) == q.out && w.dim(1) == q.in,
               "dequantize (cuda): output {} for a [{}, {}] weight", shape_str(w.shape()), q.out, q.in);
  TEMPER_CHECK(q.blocks.dtype() == DType::U8 && q.blocks.numel() == q.nbytes(),
               "dequantize (cuda): {} blocks of {} elements, expected {} u8 bytes", dtype_name(q.blocks.dtype()),
               q.blocks.numel(), q.nbytes());
}

}  // namespace

// w [out, in] (f32, bf16 or f16) = the dequantized q.
void dequantize(const Tensor& w, const QuantizedWeight& q) {
  check_dequantize_args(w, q);
  const int64_t n = q.out * q.in;
  if (n == 0) return;
  dispatch_float(w.dtype(), "dequantize", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_for_type(mptr<T>(w), cptr<uint8_t>(q.blocks), q.type, n);
  });
}

}  // namespace temper::cuda
