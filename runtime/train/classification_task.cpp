// ClassificationTask: the classification side of the trainer's micro-step and validation.
#include "runtime/train/classification_task.h"

#include <fmt/format.h>

#include "runtime/nvtx.h"
#include "runtime/train/classification_eval.h"

namespace temper {
namespace {

ClassifierInput input_of(const ClassificationBatch& b) { return {b.tokens, b.token_types, b.lengths}; }

}  // namespace

ClassificationTask::ClassificationTask(SequenceClassifier& model, ClassificationLoader train,
                                       std::optional<ClassificationLoader> val)
    : model_(model), train_(std::move(train)), val_(std::move(val)) {}

std::string ClassificationTask::row_description() const { return "labelled sequences"; }

std::string ClassificationTask::data_description() const {
  return fmt::format("{} training examples", train_.num_examples());
}

double ClassificationTask::load_micro_batch(size_t slot) {
  if (micro_.size() <= slot) micro_.resize(slot + 1);
  train_.next(micro_[slot]);
  return label_weight_sum(model_, micro_[slot].labels);
}

LossSum ClassificationTask::forward_backward(size_t slot, float dloss) {
  const ClassificationBatch& b = micro_.at(slot);
  model_.forward(input_of(b));
  return model_.backward(b.labels, dloss);
}

void ClassificationTask::restore_loader(const nlohmann::json& state, const std::string& origin) {
  train_.restore(loader_state_from_json(state, origin));
}

EvalReport ClassificationTask::evaluate(int64_t max_batches, Communicator* comm) {
  return evaluate_classifier(model_, *val_, max_batches, comm);
}

EvalReport evaluate_classifier(SequenceClassifier& model, ClassificationLoader& loader, int64_t max_batches,
                               Communicator* comm) {
  TEMPER_NVTX("evaluate_classifier");
  return evaluate_loader<ClassificationBatch>(loader, model.labels(), max_batches, comm,
                                              [&](const ClassificationBatch& b, Tensor* logits) {
                                                return model.evaluate(input_of(b), b.labels, logits);
                                              });
}

}  // namespace temper
