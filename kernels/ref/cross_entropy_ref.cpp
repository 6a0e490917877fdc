// CPU fused softmax cross-entropy: loss per row, and the logits gradient in place if asked.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace temper::ref {

void softmax_cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                           const Tensor& targets, int ignore_index, float dloss) {
  const int64_t v = logits.dim(-1), n = logits.numel() / v;
  TEMPER_CHECK(losses.numel() == n && targets.numel() == n, "softmax_cross_entropy: {} rows, {} targets, {} losses",
               n, targets.numel(), losses.numel());
  const int32_t* tg = targets.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    TEMPER_CHECK(tg[i] == ignore_index || (tg[i] >= 0 && tg[i] < v), "target id {} out of range [0, {})", tg[i], v);
  const float* lg = logits.data<float>();
  float* ls = losses.data<float>();
  float* dl = dlogits.defined() ? dlogits.data<float>() : nullptr;
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    const float* row = lg + i * v;
    float mx = row[0];
    for (int64_t j = 1; j < v; ++j) mx = std::max(mx, row[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(row[j] - mx));
    const bool keep = tg[i] != ignore_index;
    ls[i] = keep ? static_cast<float>(std::log(sum) + mx - row[tg[i]]) : 0.f;
    if (!dl) continue;
    float* drow = dl + i * v;
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < v; ++j) {
      const float p = std::exp(row[j] - mx) * inv;  // reads row[j] before drow[j] may overwrite it
      drow[j] = keep ? (p - (j == tg[i] ? 1.f : 0.f)) * dloss : 0.f;
    }
  }
}

}  // namespace temper::ref
