// Sequence classification as a TrainTask: padded batches of labelled sequences, cross-entropy over
// the labels, validation loss, accuracy, macro-F1, per-class precision / recall and the confusion
// matrix (reduced over ranks).
#pragma once
#include <optional>
#include <vector>

#include "runtime/data/classification_loader.h"
#include "runtime/train/sequence_classifier.h"
#include "runtime/train/train_task.h"

namespace temper {

class ClassificationTask : public TrainTask {
 public:
  ClassificationTask(SequenceClassifier& model, ClassificationLoader train, std::optional<ClassificationLoader> val);
  TrainableModel& model() override { return model_; }
  int64_t micro_batches_per_epoch() const override { return train_.batches_per_epoch(); }
  std::string data_description() const override;
  double load_micro_batch(size_t slot) override;
  LossSum forward_backward(size_t slot, float dloss) override;
  int64_t tokens(size_t slot) const override { return micro_.at(slot).num_tokens; }
  std::string row_description() const override;
  nlohmann::json loader_state() const override { return loader_state_to_json(train_.state()); }
  void restore_loader(const nlohmann::json& state, const std::string& origin) override;
  bool has_validation() const override { return val_.has_value(); }
  EvalReport evaluate(int64_t max_batches, Communicator* comm) override;

 private:
  SequenceClassifier& model_;
  ClassificationLoader train_;
  std::optional<ClassificationLoader> val_;
  std::vector<ClassificationBatch> micro_;
};

// Loss, accuracy, macro-F1 and the confusion matrix of `model` over `loader` (reset first; up to
// max_batches per rank, 0 = all), reduced over ranks when comm is given. Shared with `temper eval`.
EvalReport evaluate_classifier(SequenceClassifier& model, ClassificationLoader& loader, int64_t max_batches,
                               Communicator* comm);

}  // namespace temper
