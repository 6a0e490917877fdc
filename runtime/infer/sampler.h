// Autoregressive text generation: temperature, top-k sampling (greedy at temperature 0).
// Recomputes the full prefix each token (no KV cache yet), windowed to the model's context.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/data/tokenizer.h"
#include "runtime/train/causal_lm.h"

namespace temper {

struct SamplingOptions {
  int64_t max_new_tokens = 64;
  float temperature = 1.0f;  // 0 = greedy
  int top_k = 0;             // 0 = whole vocabulary
  uint64_t seed = 0;
  bool stop_at_eos = true;
};

// Picks the next id from one row of logits.
int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& opt, uint64_t& rng_state);

// Generates after `prompt_ids`; on_token (optional) sees each new id as it is produced.
std::vector<int32_t> generate(CausalLm& model, const std::vector<int32_t>& prompt_ids, int32_t eos_id,
                              const SamplingOptions& opt, const std::function<void(int32_t)>& on_token = {});

}  // namespace temper
