// Element types and devices, with host-side bf16/f16 conversions used by loaders and CPU code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace temper {

// U8: raw bytes (quantized weight blocks); no arithmetic op takes it.
enum class DType : uint8_t { F32, BF16, F16, I32, U8 };
enum class Device : uint8_t { Cpu, Cuda };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);

// bf16: upper 16 bits of an f32, round-to-nearest-even (NaN kept quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace temper
