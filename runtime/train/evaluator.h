// Validation: mean cross-entropy over held-out windows and its perplexity, across ranks.
#pragma once
#include <cstdint>

#include "runtime/comm/communicator.h"
#include "runtime/data/sequence_loader.h"
#include "runtime/train/causal_lm.h"

namespace temper {

struct EvalResult {
  double loss = 0;        // mean per-token loss over kept targets
  double perplexity = 0;  // exp(loss)
  int64_t targets = 0;    // tokens scored
};

// One pass over `loader` (reset first); max_batches 0 = all (per rank). With a communicator, each
// rank scores its share of the windows and the sums are reduced, so every rank gets the global result.
EvalResult evaluate(CausalLm& model, SequenceLoader& loader, int64_t max_batches, Communicator* comm = nullptr);

}  // namespace temper
