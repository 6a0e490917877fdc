// ClassificationTask: the classification side of the trainer's micro-step and validation.
#include "runtime/train/classification_task.h"

#include <fmt/format.h>

#include "runtime/nvtx.h"
#include "runtime/train/classification_metrics.h"

namespace temper {
namespace {

ClassifierInput input_of(const ClassificationBatch& b) { return {b.tokens, b.token_types, b.lengths}; }

// Adds each row's argmax of logits (CPU f32 [B, L]) against its label to the matrix.
void count_predictions(ConfusionMatrix& m, const Tensor& logits, const Tensor& labels) {
  const int64_t b = logits.dim(0), l = logits.dim(1);
  for (int64_t i = 0; i < b; ++i) {
    const int32_t truth = labels.data<int32_t>()[i];
    if (truth == ClassificationLoader::kIgnoreLabel) continue;
    const float* row = logits.data<float>() + i * l;
    int32_t best = 0;
    for (int32_t j = 1; j < l; ++j)
      if (row[j] > row[best]) best = j;
    m.add(truth, best);
  }
}

void reduce(ConfusionMatrix& m, LossSum& total, Communicator* comm) {
  if (comm == nullptr || comm->world_size() == 1) return;
  for (double& c : m.cells()) c = comm->all_reduce_scalar(c, ReduceOp::Sum);
  total.sum = comm->all_reduce_scalar(total.sum, ReduceOp::Sum);
  total.count = static_cast<int64_t>(comm->all_reduce_scalar(static_cast<double>(total.count), ReduceOp::Sum));
}

}  // namespace

ClassificationTask::ClassificationTask(SequenceClassifier& model, ClassificationLoader train,
                                       std::optional<ClassificationLoader> val)
    : model_(model), train_(std::move(train)), val_(std::move(val)) {}

std::string ClassificationTask::data_description() const {
  return fmt::format("{} training examples", train_.num_examples());
}

double ClassificationTask::load_micro_batch(size_t slot) {
  if (micro_.size() <= slot) micro_.resize(slot + 1);
  train_.next(micro_[slot]);
  const ClassificationBatch& b = micro_[slot];
  const std::vector<float>& w = model_.class_weights();
  if (w.empty()) return static_cast<double>(b.num_targets);
  double sum = 0;  // the weighted mean's denominator, as torch's CrossEntropyLoss(weight=...)
  for (int64_t i = 0; i < b.labels.numel(); ++i) {
    const int32_t label = b.labels.data<int32_t>()[i];
    if (label != ClassificationLoader::kIgnoreLabel) sum += w.at(static_cast<size_t>(label));
  }
  return sum;
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
  loader.reset();
  ConfusionMatrix m(static_cast<int64_t>(model.labels().size()));
  LossSum total;
  ClassificationBatch b;
  for (int64_t i = 0; (max_batches <= 0 || i < max_batches) && loader.next(b); ++i) {
    Tensor logits;
    const LossSum s = model.evaluate(input_of(b), b.labels, &logits);
    total.sum += s.sum;
    total.count += s.count;
    count_predictions(m, logits, b.labels);
  }
  reduce(m, total, comm);
  const double loss = total.count > 0 ? total.sum / static_cast<double>(total.count) : 0.0;
  const nlohmann::json all = m.to_json(model.labels());
  EvalReport r;
  r.metrics = {{"loss", loss}, {"accuracy", all["accuracy"]}, {"macro_f1", all["macro_f1"]}};
  r.details = {{"examples", total.count}, {"per_class", all["per_class"]}, {"confusion", all["confusion"]}};
  r.text = fmt::format("loss {:.4f} | accuracy {:.4f} | macro-F1 {:.4f} | {} examples", loss,
                       all["accuracy"].get<double>(), all["macro_f1"].get<double>(), total.count);
  return r;
}

}  // namespace temper
