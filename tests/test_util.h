// Shared helpers of the model tests: fixture paths and error measures.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

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

}  // namespace temper::test
