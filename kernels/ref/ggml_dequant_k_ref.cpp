// Dequantization of the K-quant super-blocks (256 elements, 16 or 8 sub-blocks with their own scale),
// following ggml's layouts; the f32 operations match the gguf package's numpy code one for one, so
// contraction into fused multiply-adds is off here too (see ggml_dequant_ref.cpp).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/ggml_types.h"

namespace temper::detail {

namespace {

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: bytes 0-3 hold scales 0-3 (low 6
// bits) and the top 2 bits of scales 4-7; bytes 4-7 the same for the mins; bytes 8-11 the low 4 bits
// of scales 4-7 (low nibble) and mins 4-7 (high nibble).
void k4_scale_min(const uint8_t* s, int j, float* sc, float* mn) {
  if (j < 4) {
    *sc = static_cast<float>(s[j] & 63);
    *mn = static_cast<float>(s[j + 4] & 63);
  } else {
    *sc = static_cast<float>((s[j + 4] & 0x0f) | ((s[j - 4] >> 2) & 0x30));
    *mn = static_cast<float>((s[j + 4] >> 4) | ((s[j] >> 2) & 0x30));
  }
}

// The 2 low bits shared by Q2_K and Q3_K: element e of 256 sits in byte (e / 128) * 32 + e % 32 of the
// 64 quant bytes, at bit 2 * ((e % 128) / 32).
int two_bits(const uint8_t* qs, int e) { return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

// Q3_K's sixteen 6-bit signed scales (offset 32) in 12 bytes: low nibbles from bytes 0-7 (scales 0-7
// low nibble, 8-15 high nibble), the 2 high bits from bytes 8-11.
int q3_scale(const uint8_t* s, int k) {
  const int lo = k < 8 ? (s[k] & 0x0f) : (s[k - 8] >> 4);
  const int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

}  // namespace

// 16 scale bytes (4-bit scale | 4-bit min) | 64 bytes of 2-bit quants | f16 d | f16 dmin.
void dequantize_q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = gguf_f16(b + 80), dmin = gguf_f16(b + 82);
  for (int k = 0; k < 16; ++k) {
    const float dl = d * static_cast<float>(scales[k] & 0x0f);
    const float ml = dmin * static_cast<float>(scales[k] >> 4);
    for (int e = 16 * k; e < 16 * k + 16; ++e) y[e] = dl * static_cast<float>(two_bits(qs, e)) - ml;
  }
}

// 32 bytes high-bit mask | 64 bytes of 2-bit quants | 12 bytes of scales | f16 d. The quant is
// low2 - 4 when the mask bit (bit e / 32 of byte e % 32) is clear, low2 when it is set.
void dequantize_q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const float d = gguf_f16(b + 108);
  for (int k = 0; k < 16; ++k) {
    const float dl = d * static_cast<float>(q3_scale(b + 96, k));
    for (int e = 16 * k; e < 16 * k + 16; ++e) {
      const int high = (hmask[e % 32] >> (e / 32)) & 1;
      y[e] = dl * static_cast<float>(two_bits(qs, e) - ((high ^ 1) << 2));
    }
  }
}

// f16 d | f16 dmin | 12 bytes of scales/mins | 128 bytes of nibbles. Sub-block j (32 elements) reads
// byte (j / 2) * 32 + l, low nibble for even j, high for odd: y = (d * sc) * q - dmin * m.
void dequantize_q4_k(const uint8_t* b, float* y) {
  const float d = gguf_f16(b), dmin = gguf_f16(b + 2);
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 8; ++j) {
    float sc, mn;
    k4_scale_min(b + 4, j, &sc, &mn);
    const float dl = d * sc, ml = dmin * mn;
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) y[32 * j + l] = dl * static_cast<float>((qs[(j / 2) * 32 + l] >> shift) & 0x0f) - ml;
  }
}

// f16 d | f16 dmin | 12 bytes of scales/mins | 32 bytes of fifth bits (bit j of byte l) | 128 bytes of
// nibbles as Q4_K.
void dequantize_q5_k(const uint8_t* b, float* y) {
  const float d = gguf_f16(b), dmin = gguf_f16(b + 2);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int j = 0; j < 8; ++j) {
    float sc, mn;
    k4_scale_min(b + 4, j, &sc, &mn);
    const float dl = d * sc, ml = dmin * mn;
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[(j / 2) * 32 + l] >> shift) & 0x0f) | (((qh[l] >> j) & 1) << 4);
      y[32 * j + l] = dl * static_cast<float>(q) - ml;
    }
  }
}

// 128 bytes of low nibbles | 64 bytes of 2 high bits | 16 int8 scales | f16 d: y = (d * sc) * (q - 32).
// Element e = 128 h + r: low nibble from byte 64 h + r % 64 (high nibble when r >= 64), high bits from
// byte 32 h + r % 32 at bit 2 * (r / 32).
void dequantize_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = gguf_f16(b + 208);
  for (int k = 0; k < 16; ++k) {
    const float dl = d * static_cast<float>(scales[k]);
    for (int e = 16 * k; e < 16 * k + 16; ++e) {
      const int h = e / 128, r = e % 128;
      const int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0f;
      const int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
      y[e] = dl * static_cast<float>((lo | (hi << 4)) - 32);
    }
  }
}

}  // namespace temper::detail
