// What the Trainer trains: a model plus the data that feeds it and what one micro-step computes.
// The Trainer owns the loop (accumulation, data parallelism, the optimizer and schedule, checkpoints,
// logging); a task owns its batches, its loss and its validation metrics. CausalLmTask (token
// windows, next-token loss) and ClassificationTask (labelled sequences, one label each) implement it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/comm/communicator.h"
#include "runtime/train/trainable_model.h"

namespace temper {

struct EvalReport {
  nlohmann::json metrics;  // what the run summary reports as val_<name>_start / _end (loss always)
  nlohmann::json details;  // extra fields for the metrics file (counts, confusion matrix, ...)
  std::string text;        // one log line: "loss 2.3456 | perplexity 10.4 | 4096 tokens"
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual TrainableModel& model() = 0;

  // Micro-batches per epoch on this rank, and what the training data is, for messages.
  virtual int64_t micro_batches_per_epoch() const = 0;
  virtual std::string data_description() const = 0;  // "1234 training windows"

  // Draws this rank's next micro-batch into `slot` (0 .. grad_accum-1); returns the weight of the
  // targets it scores (tokens, or labelled sequences; with class weights their sum), for the loss
  // normalisation over all ranks.
  virtual double load_micro_batch(size_t slot) = 0;
  // Forward + backward on `slot`'s batch, gradients of dloss * sum(losses) accumulated.
  virtual LossSum forward_backward(size_t slot, float dloss) = 0;
  virtual int64_t tokens(size_t slot) const = 0;  // input tokens (images) of `slot`'s batch (throughput)
  // For messages: one row of a micro-batch ("sequences of 128 tokens", "images of 64x64"), what tokens()
  // counts ("tokens", "images": the metrics file's <items>_per_s, <items>_seen) and its short unit in a
  // rate ("tok", "img").
  virtual std::string row_description() const = 0;
  virtual std::string counted_items() const { return "tokens"; }
  virtual std::string throughput_unit() const { return "tok"; }

  // The training data position (checkpoints) and its restore (InputError naming `origin`).
  virtual nlohmann::json loader_state() const = 0;
  virtual void restore_loader(const nlohmann::json& state, const std::string& origin) = 0;

  virtual bool has_validation() const = 0;
  // Validation over up to max_batches per rank (0 = all), reduced over ranks when comm is given.
  virtual EvalReport evaluate(int64_t max_batches, Communicator* comm) = 0;
};

}  // namespace temper
