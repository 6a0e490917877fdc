// ClassificationEval: argmax predictions into the confusion matrix, the reduction over ranks, the report.
#include "runtime/train/classification_eval.h"

#include <fmt/format.h>

#include "runtime/train/classifier.h"

namespace temper {

void ClassificationEval::add(const LossSum& loss, const Tensor& logits, const Tensor& labels) {
  total_.sum += loss.sum;
  total_.count += loss.count;
  const int64_t b = logits.dim(0), l = logits.dim(1);
  for (int64_t i = 0; i < b; ++i) {
    const int32_t truth = labels.data<int32_t>()[i];
    if (truth == Classifier::kIgnoreLabel) continue;
    const float* row = logits.data<float>() + i * l;
    int32_t best = 0;
    for (int32_t j = 1; j < l; ++j)
      if (row[j] > row[best]) best = j;
    matrix_.add(truth, best);
  }
}

EvalReport ClassificationEval::report(const std::vector<std::string>& names, Communicator* comm) {
  if (comm != nullptr && comm->world_size() > 1) {
    for (double& c : matrix_.cells()) c = comm->all_reduce_scalar(c, ReduceOp::Sum);
    total_.sum = comm->all_reduce_scalar(total_.sum, ReduceOp::Sum);
    total_.count = static_cast<int64_t>(comm->all_reduce_scalar(static_cast<double>(total_.count), ReduceOp::Sum));
  }
  const double loss = total_.count > 0 ? total_.sum / static_cast<double>(total_.count) : 0.0;
  const nlohmann::json all = matrix_.to_json(names);
  EvalReport r;
  r.metrics = {{"loss", loss}, {"accuracy", all["accuracy"]}, {"macro_f1", all["macro_f1"]}};
  r.details = {{"examples", total_.count}, {"per_class", all["per_class"]}, {"confusion", all["confusion"]}};
  r.text = fmt::format("loss {:.4f} | accuracy {:.4f} | macro-F1 {:.4f} | {} examples", loss,
                       all["accuracy"].get<double>(), all["macro_f1"].get<double>(), total_.count);
  return r;
}

}  // namespace temper
