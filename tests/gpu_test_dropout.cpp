// CUDA dropout against the CPU reference, bit for bit: f32, bf16 and f16 storage, odd sizes
// (1, 31, 1000003), two seeds, p = 0 (a copy) and p > 0, out separate from x and aliasing it.
// Both backends share the mask hash (kernels/dropout_mask.h) and round x * scale once in f32.
// Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dropout.h"
#include "runtime/device_memory.h"
#include "runtime/tensor.h"

namespace temper {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device"

constexpr DType kDtypes[] = {DType::F32, DType::BF16, DType::F16};
constexpr int64_t kSizes[] = {1, 31, 1000003};
constexpr uint64_t kSeeds[] = {0x5EEDull, 0xFFFFFFFFFFFFFFF0ull};
constexpr float kProbs[] = {0.f, 0.1f, 0.5f, 0.9f};

// CPU tensor of n normal(0, 3) values stored in dtype dt.
Tensor random_host(int64_t n, DType dt, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.f, 3.f);
  Tensor t = Tensor::empty({n}, dt);
  for (int64_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    if (dt == DType::F32) {
      t.data<float>()[i] = v;
    } else {
      t.data<uint16_t>()[i] = dt == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
    }
  }
  return t;
}

// Index of the first byte-level difference between two CPU tensors of one dtype, or -1.
int64_t first_difference(const Tensor& a, const Tensor& b) {
  const size_t es = dtype_size(a.dtype());
  const auto *pa = static_cast<const uint8_t*>(a.raw()), *pb = static_cast<const uint8_t*>(b.raw());
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(pa + i * es, pb + i * es, es) != 0) return i;
  return -1;
}

// Runs one case on both backends (out separate, then aliasing x on the device) and compares bits.
void check_case(DType dt, int64_t n, uint64_t seed, float p) {
  SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " n=" << n << " seed=" << seed << " p=" << p);
  const Tensor x = random_host(n, dt, seed ^ static_cast<uint64_t>(n));
  Tensor want = Tensor::empty({n}, dt);
  ops::dropout(want, x, p, seed);

  const Tensor xd = x.to(Device::Cuda);
  Tensor outd = Tensor::empty({n}, dt, Device::Cuda);
  ops::dropout(outd, xd, p, seed);
  EXPECT_EQ(first_difference(outd.to(Device::Cpu), want), -1) << "separate out";

  ops::dropout(xd, xd, p, seed);  // in place
  EXPECT_EQ(first_difference(xd.to(Device::Cpu), want), -1) << "out aliasing x";
}

TEST(GpuDropout, MatchesCpuBitForBit) {
  SKIP_WITHOUT_GPU();
  for (DType dt : kDtypes)
    for (int64_t n : kSizes)
      for (uint64_t seed : kSeeds)
        for (float p : kProbs) check_case(dt, n, seed, p);
}

TEST(GpuDropout, RejectsBadArguments) {
  SKIP_WITHOUT_GPU();
  const Tensor x = random_host(16, DType::F32, 1).to(Device::Cuda);
  Tensor out = Tensor::empty({16}, DType::F32, Device::Cuda);
  EXPECT_THROW(ops::dropout(out, x, 1.0f, 1), Error);
  EXPECT_THROW(ops::dropout(out, x, -0.1f, 1), Error);
  EXPECT_THROW(ops::dropout(Tensor::empty({4, 4}, DType::F32, Device::Cuda), x, 0.5f, 1), Error);
  EXPECT_THROW(ops::dropout(Tensor::empty({16}, DType::F32), x, 0.5f, 1), Error);  // out on the CPU
}

}  // namespace
}  // namespace temper
