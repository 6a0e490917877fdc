// The dropout keep decision as one inline definition shared by the CPU reference and the CUDA
// kernel (host and device), so both backends draw the same mask bit for bit: element i of a call
// with `seed` hashes seed + i * golden-ratio through the splitmix64 finalizer, the top 24 bits
// give an exact uniform u in [0, 1), and the element is kept when u >= p.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define TEMPER_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TEMPER_HOST_DEVICE inline
#endif

namespace temper::dropout_mask {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;       // Weyl step between elements
constexpr float kTwoPowMinus24 = 5.9604644775390625e-8f;  // 2^-24, exact in f32

// The standard splitmix64 finalizer (Steele, Lea, Flood 2014).
TEMPER_HOST_DEVICE uint64_t splitmix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z;
}

// Uniform in [0, 1) from the top 24 bits of the hash: both the conversion and the scaling are exact.
TEMPER_HOST_DEVICE float uniform(uint64_t seed, int64_t i) {
  const uint64_t h = splitmix64(seed + static_cast<uint64_t>(i) * kGolden);
  return static_cast<float>(static_cast<uint32_t>(h >> 40)) * kTwoPowMinus24;
}

TEMPER_HOST_DEVICE bool keeps(uint64_t seed, int64_t i, float p) { return uniform(seed, i) >= p; }

}  // namespace temper::dropout_mask

#undef TEMPER_HOST_DEVICE
