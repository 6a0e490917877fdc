// Validation: mean cross-entropy over held-out windows and its perplexity.
#pragma once
#include <cstdint>

#include "runtime/data/sequence_loader.h"
#include "runtime/train/causal_lm.h"

namespace temper {

struct EvalResult {
  double loss = 0;        // mean per-token loss over kept targets
  double perplexity = 0;  // exp(loss)
  int64_t targets = 0;    // tokens scored
};

// One pass over `loader` (reset first); max_batches 0 = all.
EvalResult evaluate(CausalLm& model, SequenceLoader& loader, int64_t max_batches);

}  // namespace temper
