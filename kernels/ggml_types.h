// GGML tensor types as stored in GGUF files: their block layout (elements per block, bytes per block)
// and CPU dequantization to f32.
//
// A quantized row of n elements is n / block_size blocks stored back to back; a block starts with its
// scale(s) as f16 (K-quants: a 256-element super-block with packed 4/6-bit sub-block scales). The
// layouts and formulas are those of ggml (llama.cpp), checked bit for bit against the `gguf` Python
// package's dequantize (tools/make_gguf_fixture.py, tests/test_gguf.cpp).
//
// Dequantized:  F32 F16 BF16 F64, Q4_0 Q4_1 Q5_0 Q5_1 Q8_0, Q2_K Q3_K Q4_K Q5_K Q6_K.
// Known (their byte size is validated, raw bytes readable) but not dequantized: the integer types,
// Q8_K, the IQ*, TQ* and MXFP4 families. Q8_1 is refused: ggml's block is 36 bytes, the gguf package
// says 40, and it is an activation format that model files do not hold.
#pragma once
#include <cstdint>

namespace temper {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;     // "Q4_1", as ggml and the gguf package spell it
  uint32_t block_size;  // elements per block (1 for plain types)
  uint32_t type_size;   // bytes per block; 0 = layout not settled (Q8_1): files holding it are refused
  bool dequantizable;   // dequantize_row() supports it
};

// The traits of a type id read from a file; nullptr when the id is not a GGML type.
const GgmlTypeTraits* ggml_type_traits(uint32_t id);
const GgmlTypeTraits& ggml_type_traits(GgmlType t);
inline const char* ggml_type_name(GgmlType t) { return ggml_type_traits(t).name; }

// Dequantizes `n` elements (a multiple of the block size) of type `t` from `src` into `dst`.
// `t` must be dequantizable (TEMPER_CHECK otherwise).
void dequantize_row(GgmlType t, const uint8_t* src, int64_t n, float* dst);

// The types quantize_row() writes: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0.
bool ggml_quantizable(GgmlType t);
// Quantizes `n` elements (a multiple of the block size) of `src` into `dst` (n / block_size * type_size
// bytes), with ggml's reference quantizers (the same bytes as the gguf package's quantize). `t` must
// be quantizable (TEMPER_CHECK otherwise).
void quantize_row(GgmlType t, const float* src, int64_t n, uint8_t* dst);

namespace detail {
// One 256-element K-quant super-block (kernels/ref/ggml_dequant_k_ref.cpp).
void dequantize_q2_k(const uint8_t* b, float* y);
void dequantize_q3_k(const uint8_t* b, float* y);
void dequantize_q4_k(const uint8_t* b, float* y);
void dequantize_q5_k(const uint8_t* b, float* y);
void dequantize_q6_k(const uint8_t* b, float* y);
float gguf_f16(const uint8_t* p);  // little-endian f16 at p, as f32
}  // namespace detail

}  // namespace temper
