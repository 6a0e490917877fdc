// Shared helpers of the model and op tests: fixture paths, error measures, random tensors and
// central finite differences.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace temper::test {

inline std::string fixture(const std::string& name) {
  return std::string(TEMPER_SOURCE_DIR) + "/tests/fixtures/" + name;
}

// max |a - b| relative to max |b|.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, double(std::abs(a[i] - b[i])));
    den = std::max(den, double(std::abs(b[i])));
  }
  return num / std::max(den, 1e-12);
}

// CPU f32 tensor of normal(0, scale) values from a fixed seed.
inline Tensor randn(const Shape& s, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// sum of a[i] * b[i] over two CPU f32 tensors, in f64.
inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += double(a.data<float>()[i]) * b.data<float>()[i];
  return s;
}

// Checks analytic[i] == d loss / d x[i] by central differences, for every element of the CPU f32
// tensor x (loss() must read x through its storage).
inline void expect_fd(const Tensor& x, const Tensor& analytic, const std::function<double()>& loss, double eps = 1e-2,
                      double tol = 2e-2) {
  ASSERT_EQ(x.numel(), analytic.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& xi = x.data<float>()[i];
    const float orig = xi;
    xi = orig + float(eps);
    const double lp = loss();
    xi = orig - float(eps);
    const double lm = loss();
    xi = orig;
    const double num = (lp - lm) / (2 * eps);
    const double ana = analytic.data<float>()[i];
    EXPECT_NEAR(ana, num, tol * std::max(1.0, std::abs(num))) << "element " << i;
  }
}

}  // namespace temper::test
