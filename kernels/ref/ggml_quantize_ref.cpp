// Quantization of f32 rows to the plain and 32-element block GGML types (see kernels/ggml_types.h): ggml's
// reference quantizers, written to give the same bytes as the `gguf` Python package's quantize
// (tools/make_quant_fixture.py, tests/test_ggml_quantize.cpp).
//
// Bit-exactness: every value is computed with the same f32 operations in the same order as the package's
// numpy code (a true division for the scale, its reciprocal id = 1 / d, then x * id + 0.5 and a
// truncation; Q8_0 rounds half away from zero). A fused multiply-add would round once instead of twice,
// so contraction is switched off for this file. Scales go to f16 with round-to-nearest-even as numpy's
// astype(float16) does. Behaviour numpy leaves to the platform is taken as on x86-64: a non-finite
// float cast to an integer gives 0 (blocks of f32 subnormals, whose 1 / d overflows, come out as zeros).
// Not matched: blocks holding NaN, and the sign of a zero min/max in a block mixing +0 and -0 (numpy's
// SIMD reductions pick either).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <cstring>

#include "kernels/ggml_types.h"
#include "runtime/dtype.h"
#include "runtime/error.h"

namespace temper {

namespace {

constexpr int kBlock = 32;

// numpy's float32 -> float16: round to nearest even (f32_to_f16) for numbers; a NaN keeps the top 10
// bits of its payload, and stays a NaN when they are all zero (npy_floatbits_to_halfbits).
uint16_t f16_numpy(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) <= 0x7f800000u) return f32_to_f16(f);
  uint16_t h = static_cast<uint16_t>(0x7c00u | ((u & 0x7fffffu) >> 13));
  if (h == 0x7c00u) ++h;
  return static_cast<uint16_t>(((u >> 16) & 0x8000u) | h);
}

void put_f16(uint8_t* p, float v) {
  const uint16_t h = f16_numpy(v);
  std::memcpy(p, &h, 2);
}

// numpy's float -> integer cast on x86-64 (cvttss2si): truncation, 0 for NaN and infinities; the low
// byte of the result is what an 8-bit cast keeps.
int64_t cast_int(float v) {
  if (!std::isfinite(v) || std::fabs(v) >= 9.2e18f) return 0;
  return static_cast<int64_t>(v);
}

// np.trunc(v).astype(np.uint8).clip(0, hi).
uint8_t trunc_u8_clip(float v, int hi) {
  const int q = static_cast<uint8_t>(cast_int(v));
  return static_cast<uint8_t>(q > hi ? hi : q);
}

// The gguf package's np_roundf: round half away from zero, as floor(|v|) + floor(2 (|v| - floor(|v|))).
float np_roundf(float v) {
  const float a = std::fabs(v);
  const float floored = std::floor(a);
  const float b = floored + std::floor(2.0f * (a - floored));
  const float sign = v > 0 ? 1.0f : (v < 0 ? -1.0f : v);  // np.sign: NaN stays NaN
  return sign * b;
}

// The element of largest magnitude, with its sign; the first one on ties (np.argmax).
float signed_absmax(const float* x) {
  float amax = -1.0f, max = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, float* mn, float* mx) {
  *mn = *mx = x[0];
  for (int j = 1; j < kBlock; ++j) {
    if (x[j] < *mn) *mn = x[j];
    if (x[j] > *mx) *mx = x[j];
  }
}

// np.where(d == 0, 0, 1 / d) in f32.
float inverse(float d) { return d == 0.0f ? 0.0f : 1.0f / d; }

// 16 bytes: low nibble of byte j = q[j], high nibble = q[j + 16] (bits above the nibble dropped).
void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < kBlock / 2; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

// Little-endian u32 whose bit j is the fifth bit of q[j] (np.packbits(q >> 4, bitorder="little")).
void pack_high_bits(const uint8_t* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < kBlock; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1u) << j;
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(bits >> (8 * k));
}

// Symmetric 2^bits-level block: d = max / -2^(bits-1), q = trunc(x / d + 2^(bits-1) + 0.5).
void quantize_symmetric(const float* x, int bits, uint8_t* q, float* d) {
  const float half_levels = static_cast<float>(1 << (bits - 1));
  *d = signed_absmax(x) / -half_levels;
  const float id = inverse(*d);
  const float offset = half_levels + 0.5f;
  for (int j = 0; j < kBlock; ++j) q[j] = trunc_u8_clip(x[j] * id + offset, (1 << bits) - 1);
}

// Affine block: d = (max - min) / (2^bits - 1), q = trunc((x - min) / d + 0.5), m = min.
void quantize_affine(const float* x, int bits, uint8_t* q, float* d, float* m) {
  float mx;
  min_max(x, m, &mx);
  *d = (mx - *m) / static_cast<float>((1 << bits) - 1);
  const float id = inverse(*d);
  for (int j = 0; j < kBlock; ++j) q[j] = trunc_u8_clip((x[j] - *m) * id + 0.5f, (1 << bits) - 1);
}

// f16 d | 16 bytes of nibbles.
void q4_0(const float* x, uint8_t* b) {
  uint8_t q[kBlock];
  float d;
  quantize_symmetric(x, 4, q, &d);
  put_f16(b, d);
  pack_nibbles(q, b + 2);
}

// f16 d | f16 m | 16 bytes of nibbles.
void q4_1(const float* x, uint8_t* b) {
  uint8_t q[kBlock];
  float d, m;
  quantize_affine(x, 4, q, &d, &m);
  put_f16(b, d);
  put_f16(b + 2, m);
  pack_nibbles(q, b + 4);
}

// f16 d | u32 fifth bits | 16 bytes of nibbles.
void q5_0(const float* x, uint8_t* b) {
  uint8_t q[kBlock];
  float d;
  quantize_symmetric(x, 5, q, &d);
  put_f16(b, d);
  pack_high_bits(q, b + 2);
  pack_nibbles(q, b + 6);
}

// f16 d | f16 m | u32 fifth bits | 16 bytes of nibbles.
void q5_1(const float* x, uint8_t* b) {
  uint8_t q[kBlock];
  float d, m;
  quantize_affine(x, 5, q, &d, &m);
  put_f16(b, d);
  put_f16(b + 2, m);
  pack_high_bits(q, b + 4);
  pack_nibbles(q, b + 8);
}

// f16 d | 32 x int8, d = max |x| / 127, q = round_half_away(x / d).
void q8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = std::fabs(x[j]) > amax ? std::fabs(x[j]) : amax;
  const float d = amax / 127.0f;
  const float id = inverse(d);
  put_f16(b, d);
  for (int j = 0; j < kBlock; ++j) b[2 + j] = static_cast<uint8_t>(cast_int(np_roundf(x[j] * id)));
}

using BlockFn = void (*)(const float*, uint8_t*);

BlockFn block_fn(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
      return q4_0;
    case GgmlType::Q4_1:
      return q4_1;
    case GgmlType::Q5_0:
      return q5_0;
    case GgmlType::Q5_1:
      return q5_1;
    case GgmlType::Q8_0:
      return q8_0;
    default:
      return nullptr;
  }
}

// F32 as is, F16 as numpy's astype(float16), BF16 as ggml_compute_fp32_to_bf16 (f32_to_bf16: NaN made
// quiet, else round to nearest even; the gguf package does the same).
void convert_plain(GgmlType t, const float* src, int64_t n, uint8_t* dst) {
  if (t == GgmlType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = t == GgmlType::F16 ? f16_numpy(src[i]) : f32_to_bf16(src[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}

}  // namespace

bool ggml_quantizable(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || block_fn(t) != nullptr;
}

void quantize_row(GgmlType t, const float* src, int64_t n, uint8_t* dst) {
  const GgmlTypeTraits& traits = ggml_type_traits(t);
  TEMPER_CHECK(ggml_quantizable(t), "quantize_row: quantizing to {} is not supported", traits.name);
  TEMPER_CHECK(n >= 0 && n % traits.block_size == 0,
               "quantize_row: {} elements is not a multiple of the {} block size {}", n, traits.name,
               traits.block_size);
  const BlockFn fn = block_fn(t);
  if (!fn) return convert_plain(t, src, n, dst);
  const int64_t blocks = n / traits.block_size;
  for (int64_t i = 0; i < blocks; ++i) fn(src + i * traits.block_size, dst + i * traits.type_size);
}

}  // namespace temper
