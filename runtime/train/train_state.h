// Training checkpoints: <output_dir>/checkpoints/step-NNNNNNNN/ holds the model (HF layout),
// optimizer.safetensors (fp32 master weights, AdamW m and v) and trainer_state.json (step, data
// position, seed, run geometry). The directory is written under a temporary name and renamed, then
// checkpoints/latest is updated atomically, so a crash never leaves a checkpoint that looks whole.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/train/adamw_optimizer.h"
#include "runtime/train/causal_lm.h"

namespace temper {

struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  int64_t tokens_seen = 0;
  nlohmann::json loader;      // SequenceLoader position (loader_state_to_json)
  nlohmann::json run;         // geometry that must match on resume (seq_len, batch, params, ...)
};

// Writes a checkpoint and returns its directory.
std::string save_checkpoint(const std::string& output_dir, const CausalLm& model, const AdamWOptimizer& opt,
                            const TrainState& state);
// "latest" resolves through <output_dir>/checkpoints/latest. Restores master weights (and the compute
// copy), AdamW state and returns the trainer state. InputError on a missing/partial/mismatched checkpoint.
TrainState load_checkpoint(const std::string& where, const std::string& output_dir, CausalLm& model,
                           AdamWOptimizer& opt);

}  // namespace temper
