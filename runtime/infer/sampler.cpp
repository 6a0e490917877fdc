// Sampling implementation: a splitmix64 stream for reproducible draws across platforms.
#include "runtime/infer/sampler.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace temper {
namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double uniform01(uint64_t& s) { return static_cast<double>(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& opt, uint64_t& rng_state) {
  TEMPER_CHECK(!logits.empty(), "sample_token: empty logits");
  if (opt.temperature <= 0.f)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  size_t k = ids.size();
  if (opt.top_k > 0 && static_cast<size_t>(opt.top_k) < k) {
    k = static_cast<size_t>(opt.top_k);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  }
  float mx = -INFINITY;
  for (size_t i = 0; i < k; ++i) mx = std::max(mx, logits[ids[i]]);
  std::vector<double> p(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) sum += (p[i] = std::exp((logits[ids[i]] - mx) / opt.temperature));
  double r = uniform01(rng_state) * sum;
  for (size_t i = 0; i < k; ++i) {
    r -= p[i];
    if (r <= 0) return ids[i];
  }
  return ids[k - 1];
}

std::vector<int32_t> generate(CausalLm& model, const std::vector<int32_t>& prompt_ids, int32_t eos_id,
                              const SamplingOptions& opt, const std::function<void(int32_t)>& on_token) {
  std::vector<int32_t> seq = prompt_ids;
  TEMPER_CHECK(!seq.empty(), "generate: the prompt has no tokens");
  for (int32_t id : seq)
    TEMPER_CHECK(id >= 0 && id < model.vocab_size(), "prompt token id {} out of range [0, {})", id, model.vocab_size());
  uint64_t rng = opt.seed;
  std::vector<int32_t> out;
  const int64_t ctx = model.max_positions(), v = model.vocab_size();
  for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
    const int64_t t = std::min<int64_t>(static_cast<int64_t>(seq.size()), ctx);
    std::vector<int32_t> window(seq.end() - t, seq.end());
    const Tensor logits = model.forward(Tensor::from_i32(window, {1, t}));
    const Tensor last = logits.slice_flat((t - 1) * v, {v});
    const int32_t next = sample_token(last.to_vector(), opt, rng);
    if (opt.stop_at_eos && next == eos_id) break;
    seq.push_back(next);
    out.push_back(next);
    if (on_token) on_token(next);
  }
  return out;
}

}  // namespace temper
