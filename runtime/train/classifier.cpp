// The loss-normalisation weight of a batch of labels.
#include "runtime/train/classifier.h"

namespace temper {

double label_weight_sum(const Classifier& model, const Tensor& labels) {
  const std::vector<float>& w = model.class_weights();
  double sum = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const int32_t label = labels.data<int32_t>()[i];
    if (label != Classifier::kIgnoreLabel) sum += w.empty() ? 1.0 : w.at(static_cast<size_t>(label));
  }
  return sum;
}

}  // namespace temper
