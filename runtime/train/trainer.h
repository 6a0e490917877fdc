// The fine-tuning loop: micro-batches with gradient accumulation, clipping, AdamW with a warmup
// schedule, validation every N steps and at the end, checkpoints every N steps with exact resume,
// progress display and a metrics JSONL. Single rank here; the data-parallel reducer plugs in later.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "runtime/data/sequence_loader.h"
#include "runtime/train/adamw_optimizer.h"
#include "runtime/train/causal_lm.h"
#include "runtime/train/evaluator.h"
#include "runtime/train/metrics_log.h"
#include "runtime/train/train_config.h"

namespace temper {

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val);
  // Runs to max steps; returns the summary (also written to the metrics file).
  nlohmann::json run();
  int64_t total_steps() const { return total_steps_; }

 private:
  struct StepStats {
    double loss = 0;
    double grad_norm = 0;
    int64_t tokens = 0;
    double seconds = 0;
  };
  StepStats train_step(int64_t step);
  std::optional<EvalResult> run_eval(int64_t step, const char* when);
  void save(int64_t step);
  nlohmann::json run_geometry() const;
  void restore();

  TrainConfig cfg_;
  CausalLm& model_;
  SequenceLoader train_;
  std::optional<SequenceLoader> val_;
  AdamWOptimizer opt_;
  std::unique_ptr<MetricsLog> metrics_;
  int64_t total_steps_ = 0, start_step_ = 0, tokens_seen_ = 0;
};

// Steps for the configured epochs or max_steps.
int64_t compute_total_steps(const TrainConfig& cfg, const SequenceLoader& train);

}  // namespace temper
