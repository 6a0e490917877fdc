// Causal language modelling as a TrainTask: packed token windows from SequenceLoaders, next-token
// cross-entropy, validation loss and perplexity.
#pragma once
#include <optional>
#include <vector>

#include "runtime/data/sequence_loader.h"
#include "runtime/train/causal_lm.h"
#include "runtime/train/train_task.h"

namespace temper {

class CausalLmTask : public TrainTask {
 public:
  // The loaders are this rank's views (LoaderOptions rank/world_size set to the communicator's).
  CausalLmTask(CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val);
  TrainableModel& model() override { return model_; }
  int64_t micro_batches_per_epoch() const override { return train_.batches_per_epoch(); }
  std::string data_description() const override;
  double load_micro_batch(size_t slot) override;
  LossSum forward_backward(size_t slot, float dloss) override;
  int64_t tokens(size_t slot) const override { return micro_.at(slot).tokens.numel(); }
  std::string row_description() const override;
  nlohmann::json loader_state() const override { return loader_state_to_json(train_.state()); }
  void restore_loader(const nlohmann::json& state, const std::string& origin) override;
  bool has_validation() const override { return val_.has_value(); }
  EvalReport evaluate(int64_t max_batches, Communicator* comm) override;

 private:
  CausalLm& model_;
  SequenceLoader train_;
  std::optional<SequenceLoader> val_;
  std::vector<Batch> micro_;
};

}  // namespace temper
