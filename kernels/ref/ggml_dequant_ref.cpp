// GGML type table and dequantization of the plain and 32-element block types (see kernels/ggml_types.h);
// the K-quants are in ggml_dequant_k_ref.cpp.
//
// Bit-exactness with the gguf package: each output is computed with the same f32 operations in the
// same order as its numpy code (e.g. Q4_1: (d * q) + m, two roundings). A fused multiply-add would
// round once and differ in the last bit, so contraction is switched off for this file.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/ggml_types.h"

#include <cstring>

#include "runtime/dtype.h"
#include "runtime/error.h"

namespace temper {

namespace {

constexpr GgmlTypeTraits kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, true},
    {GgmlType::F16, "F16", 1, 2, true},
    {GgmlType::Q4_0, "Q4_0", 32, 18, true},
    {GgmlType::Q4_1, "Q4_1", 32, 20, true},
    {GgmlType::Q5_0, "Q5_0", 32, 22, true},
    {GgmlType::Q5_1, "Q5_1", 32, 24, true},
    {GgmlType::Q8_0, "Q8_0", 32, 34, true},
    {GgmlType::Q8_1, "Q8_1", 32, 0, false},
    {GgmlType::Q2_K, "Q2_K", 256, 84, true},
    {GgmlType::Q3_K, "Q3_K", 256, 110, true},
    {GgmlType::Q4_K, "Q4_K", 256, 144, true},
    {GgmlType::Q5_K, "Q5_K", 256, 176, true},
    {GgmlType::Q6_K, "Q6_K", 256, 210, true},
    {GgmlType::Q8_K, "Q8_K", 256, 292, false},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66, false},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74, false},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98, false},
    {GgmlType::IQ1_S, "IQ1_S", 256, 50, false},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, false},
    {GgmlType::IQ3_S, "IQ3_S", 256, 110, false},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82, false},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136, false},
    {GgmlType::I8, "I8", 1, 1, false},
    {GgmlType::I16, "I16", 1, 2, false},
    {GgmlType::I32, "I32", 1, 4, false},
    {GgmlType::I64, "I64", 1, 8, false},
    {GgmlType::F64, "F64", 1, 8, true},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56, false},
    {GgmlType::BF16, "BF16", 1, 2, true},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54, false},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66, false},
    {GgmlType::MXFP4, "MXFP4", 32, 17, false},
};

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Block of 32: f16 d | 16 bytes of nibbles (element j low nibble of byte j, element j+16 high nibble).
void q4_0(const uint8_t* b, float* y) {
  const float d = detail::gguf_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0f) - 8);
    y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

// f16 d | f16 m | 16 bytes of nibbles: y = d * q + m.
void q4_1(const uint8_t* b, float* y) {
  const float d = detail::gguf_f16(b), m = detail::gguf_f16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0x0f) + m;
    y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}

// The 5-bit quant of element e of a Q5 block: nibble as Q4, fifth bit = bit e of the u32 `qh`.
int q5_value(const uint8_t* qs, uint32_t qh, int e) {
  const int lo = e < 16 ? (qs[e] & 0x0f) : (qs[e - 16] >> 4);
  return lo | static_cast<int>(((qh >> e) & 1u) << 4);
}

// f16 d | u32 high bits | 16 bytes of nibbles: y = d * (q - 16).
void q5_0(const uint8_t* b, float* y) {
  const float d = detail::gguf_f16(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  for (int e = 0; e < 32; ++e) y[e] = d * static_cast<float>(q5_value(b + 6, qh, e) - 16);
}

// f16 d | f16 m | u32 high bits | 16 bytes of nibbles: y = d * q + m.
void q5_1(const uint8_t* b, float* y) {
  const float d = detail::gguf_f16(b), m = detail::gguf_f16(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  for (int e = 0; e < 32; ++e) y[e] = d * static_cast<float>(q5_value(b + 8, qh, e)) + m;
}

// f16 d | 32 x int8: y = q * d.
void q8_0(const uint8_t* b, float* y) {
  const float d = detail::gguf_f16(b);
  for (int e = 0; e < 32; ++e) y[e] = static_cast<float>(static_cast<int8_t>(b[2 + e])) * d;
}

using BlockFn = void (*)(const uint8_t*, float*);

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
    case GgmlType::Q2_K:
      return detail::dequantize_q2_k;
    case GgmlType::Q3_K:
      return detail::dequantize_q3_k;
    case GgmlType::Q4_K:
      return detail::dequantize_q4_k;
    case GgmlType::Q5_K:
      return detail::dequantize_q5_k;
    case GgmlType::Q6_K:
      return detail::dequantize_q6_k;
    default:
      return nullptr;
  }
}

// Plain element types: one conversion per element.
void convert_plain(GgmlType t, const uint8_t* src, int64_t n, float* dst) {
  switch (t) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(u16_at(src + 2 * i));
      break;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(u16_at(src + 2 * i));
      break;
    case GgmlType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      break;
    default:
      TEMPER_CHECK(false, "convert_plain: {} is not a plain float type", ggml_type_name(t));
  }
}

}  // namespace

float detail::gguf_f16(const uint8_t* p) { return f16_to_f32(u16_at(p)); }

const GgmlTypeTraits* ggml_type_traits(uint32_t id) {
  for (const GgmlTypeTraits& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeTraits& ggml_type_traits(GgmlType t) {
  const GgmlTypeTraits* traits = ggml_type_traits(static_cast<uint32_t>(t));
  TEMPER_CHECK(traits != nullptr, "ggml_type_traits: invalid GgmlType {}", static_cast<uint32_t>(t));
  return *traits;
}

void dequantize_row(GgmlType t, const uint8_t* src, int64_t n, float* dst) {
  const GgmlTypeTraits& traits = ggml_type_traits(t);
  TEMPER_CHECK(traits.dequantizable, "dequantize_row: dequantizing {} is not supported", traits.name);
  TEMPER_CHECK(n >= 0 && n % traits.block_size == 0,
               "dequantize_row: {} elements is not a multiple of the {} "
               "block size {}",
               n, traits.name, traits.block_size);
  const BlockFn fn = block_fn(t);
  if (!fn) return convert_plain(t, src, n, dst);
  const int64_t blocks = n / traits.block_size;
  for (int64_t i = 0; i < blocks; ++i) fn(src + i * traits.type_size, dst + i * traits.block_size);
}

}  // namespace temper
