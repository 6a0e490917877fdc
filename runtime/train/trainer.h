// The fine-tuning loop: micro-batches with gradient accumulation, data parallelism across ranks
// (bucketed gradient all-reduce overlapping backward, or ZeRO-1), clipping, AdamW with a warmup
// schedule, validation every N steps and at the end, checkpoints every N steps with exact resume,
// progress display and a metrics JSONL (rank 0). What is trained (model, batches, loss, metrics)
// comes from a TrainTask.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "runtime/comm/communicator.h"
#include "runtime/data/sequence_loader.h"
#include "runtime/train/adamw_optimizer.h"
#include "runtime/train/causal_lm.h"
#include "runtime/train/grad_reducer.h"
#include "runtime/train/train_task.h"
#include "runtime/train/metrics_log.h"
#include "runtime/train/train_config.h"

namespace temper {

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, std::unique_ptr<TrainTask> task, Communicator& comm);
  // Causal LM fine-tuning (a CausalLmTask). The loaders are this rank's views (LoaderOptions
  // rank/world_size set to the communicator's).
  Trainer(const TrainConfig& cfg, CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val,
          Communicator& comm);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;
  // Runs to max steps; returns the summary (also written to the metrics file).
  nlohmann::json run();
  int64_t total_steps() const { return total_steps_; }

 private:
  struct StepStats {
    double loss = 0;
    double grad_norm = 0;
    int64_t tokens = 0;  // over all ranks
    double seconds = 0;
    double comm_wait_seconds = 0;  // exposed communication
  };
  StepStats train_step(int64_t step);
  double global_grad_norm() const;
  void apply_update(int64_t step, double grad_norm);
  void average_buffers();  // the model's buffers (batch-norm statistics): mean over the ranks
  std::optional<EvalReport> run_eval(int64_t step, const char* when);
  void save(int64_t step);
  nlohmann::json run_geometry() const;
  void restore();
  void log_train_step(int64_t step, const StepStats& st, Progress& progress);
  bool zero1() const { return cfg_.zero_stage == 1; }
  bool stop_agreed() const;

  TrainConfig cfg_;
  std::unique_ptr<TrainTask> task_;
  TrainableModel& model_;
  Communicator& comm_;
  AdamWOptimizer opt_;
  GradReducer reducer_;
  std::unique_ptr<MetricsLog> metrics_;  // rank 0 only
  int64_t total_steps_ = 0, start_step_ = 0, tokens_seen_ = 0;
};

// Steps for the configured epochs or max_steps.
int64_t compute_total_steps(const TrainConfig& cfg, const TrainTask& task);

}  // namespace temper
