// CPU dropout tests: identity at p = 0, the kept fraction and scaling at p = 0.1 and 0.5, the mask
// as a pure function of (seed, i) (dropout_keeps agrees with the op), aliasing, bf16/f16 storage,
// argument checks, and the gradient identity d/dx sum(w * dropout(x)) = dropout(w), same seed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/dropout_mask.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::dot;
using temper::test::expect_fd;
using temper::test::randn;

namespace {

constexpr int64_t kN = 100000;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Expects out == dropout(x) element by element, exactly: x * (1 / (1 - p)) in f32 where kept, 0 elsewhere.
void expect_dropout_f32(const Tensor& out, const Tensor& x, float p, uint64_t seed) {
  const float scale = 1.0f / (1.0f - p);
  const float *o = out.data<float>(), *xv = x.data<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float want = ops::dropout_keeps(seed, i, p) ? xv[i] * scale : 0.f;
    if (!same_bits(o[i], want) && ++bad <= 5) ADD_FAILURE() << "element " << i << ": " << o[i] << " vs " << want;
  }
  EXPECT_EQ(bad, 0);
}

// Fraction of elements dropout_keeps says are kept.
double kept_fraction(int64_t n, float p, uint64_t seed) {
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) kept += ops::dropout_keeps(seed, i, p);
  return double(kept) / double(n);
}

}  // namespace

// The hash is the standard splitmix64: seed 0 gives the published sequence of its generator.
TEST(Dropout, MaskHashIsSplitmix64) {
  EXPECT_EQ(dropout_mask::splitmix64(1 * dropout_mask::kGolden), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(dropout_mask::splitmix64(2 * dropout_mask::kGolden), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(dropout_mask::splitmix64(3 * dropout_mask::kGolden), 0x06C45D188009454Full);
  EXPECT_EQ(dropout_mask::uniform(5, 7), 16535012.f / 16777216.f);  // top 24 bits of the hash, / 2^24
  EXPECT_TRUE(ops::dropout_keeps(5, 7, 0.98f));
  EXPECT_FALSE(ops::dropout_keeps(5, 7, 0.99f));
}

TEST(Dropout, ZeroProbabilityIsIdentity) {
  Tensor x = randn({3, 7, 11}, 1), out = Tensor::zeros({3, 7, 11}, DType::F32);
  ops::dropout(out, x, 0.f, 42);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_TRUE(same_bits(out.data<float>()[i], x.data<float>()[i]));
  Tensor y = x.clone();
  ops::dropout(y, y, 0.f, 42);  // aliased: nothing to do
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_TRUE(same_bits(y.data<float>()[i], x.data<float>()[i]));
}

TEST(Dropout, KeptFractionAndScale) {
  Tensor x = randn({kN}, 2), out = Tensor::empty({kN}, DType::F32);
  for (float p : {0.1f, 0.5f}) {
    const uint64_t seed = 1234;
    ops::dropout(out, x, p, seed);
    expect_dropout_f32(out, x, p, seed);
    const double frac = kept_fraction(kN, p, seed), sigma = std::sqrt(p * (1.0 - p) / kN);
    EXPECT_NEAR(frac, 1.0 - p, 4 * sigma) << "p = " << p;
    int64_t nonzero = 0;  // x is never exactly 0, so the op's nonzeros are its kept elements
    for (int64_t i = 0; i < kN; ++i) nonzero += out.data<float>()[i] != 0.f;
    EXPECT_EQ(nonzero, static_cast<int64_t>(std::llround(frac * kN))) << "p = " << p;
  }
}

TEST(Dropout, MaskIsAFunctionOfSeedAndIndex) {
  Tensor x = randn({kN}, 3), a = Tensor::empty({kN}, DType::F32), b = Tensor::empty({kN}, DType::F32);
  ops::dropout(a, x, 0.5f, 7);
  ops::dropout(b, x, 0.5f, 7);
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << "same seed, different output";
  ops::dropout(b, x, 0.5f, 8);
  int64_t differ = 0;
  for (int64_t i = 0; i < kN; ++i) differ += (a.data<float>()[i] == 0.f) != (b.data<float>()[i] == 0.f);
  EXPECT_GT(differ, kN / 4) << "seeds 7 and 8 should draw unrelated masks (about half differ)";
  for (int64_t i = 0; i < kN; ++i) {  // the public keep decision is what the op did
    ASSERT_EQ(a.data<float>()[i] != 0.f, ops::dropout_keeps(7, i, 0.5f)) << "element " << i;
  }
}

TEST(Dropout, OutMayAliasInput) {
  Tensor x = randn({1001}, 4), y = x.clone();
  ops::dropout(y, y, 0.3f, 99);
  expect_dropout_f32(y, x, 0.3f, 99);
}

TEST(Dropout, Bf16AndF16Storage) {
  Tensor x32 = randn({4099}, 5);
  const float p = 0.25f, scale = 1.0f / (1.0f - p);
  for (DType dt : {DType::BF16, DType::F16}) {
    Tensor x = Tensor::empty({4099}, dt), out = Tensor::empty({4099}, dt);
    const auto to16 = dt == DType::BF16 ? f32_to_bf16 : f32_to_f16;
    const auto from16 = dt == DType::BF16 ? bf16_to_f32 : f16_to_f32;
    for (int64_t i = 0; i < x.numel(); ++i) x.data<uint16_t>()[i] = to16(x32.data<float>()[i]);
    ops::dropout(out, x, p, 11);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint16_t want = ops::dropout_keeps(11, i, p) ? to16(from16(x.data<uint16_t>()[i]) * scale) : 0;
      ASSERT_EQ(out.data<uint16_t>()[i], want) << dtype_name(dt) << " element " << i;
    }
  }
}

TEST(Dropout, RejectsBadArguments) {
  Tensor x = randn({16}, 6), out = Tensor::empty({16}, DType::F32);
  EXPECT_THROW(ops::dropout(out, x, 1.0f, 1), Error);
  EXPECT_THROW(ops::dropout(out, x, -0.1f, 1), Error);
  EXPECT_THROW(ops::dropout(out, x, NAN, 1), Error);
  Tensor wrong_shape = Tensor::empty({4, 4}, DType::F32), wrong_dtype = Tensor::empty({16}, DType::BF16);
  EXPECT_THROW(ops::dropout(wrong_shape, x, 0.5f, 1), Error);
  EXPECT_THROW(ops::dropout(wrong_dtype, x, 0.5f, 1), Error);
  Tensor ints = Tensor::from_i32(std::vector<int32_t>(16, 1), {16});
  EXPECT_THROW(ops::dropout(ints, ints, 0.5f, 1), Error);
}

// L = sum(w * dropout(x)) is linear in x with dL/dx[i] = w[i] * keep[i] / (1 - p) = dropout(w)[i].
TEST(Dropout, GradientIsDropoutOfUpstreamWithSameSeed) {
  const float p = 0.4f;
  const uint64_t seed = 2024;
  Tensor x = randn({257}, 7), w = randn({257}, 8);
  Tensor y = Tensor::empty({257}, DType::F32), dx = Tensor::empty({257}, DType::F32);
  ops::dropout(dx, w, p, seed);
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < dx.numel(); ++i) {
    const float want = ops::dropout_keeps(seed, i, p) ? w.data<float>()[i] * scale : 0.f;
    EXPECT_TRUE(same_bits(dx.data<float>()[i], want)) << "element " << i;
  }
  expect_fd(x, dx, [&] {
    ops::dropout(y, x, p, seed);
    return dot(y, w);
  });
}
