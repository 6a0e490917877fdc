// ConfusionMatrix arithmetic.
#include "runtime/train/classification_metrics.h"

#include "runtime/error.h"

namespace temper {

ConfusionMatrix::ConfusionMatrix(int64_t num_labels) : n_(num_labels), cells_(static_cast<size_t>(n_ * n_), 0.0) {
  TEMPER_CHECK(num_labels > 0, "a confusion matrix needs labels");
}

void ConfusionMatrix::add(int32_t truth, int32_t predicted) {
  TEMPER_CHECK(truth >= 0 && truth < n_ && predicted >= 0 && predicted < n_, "confusion matrix: label {} / {} of {}",
               truth, predicted, n_);
  cells_[static_cast<size_t>(truth * n_ + predicted)] += 1.0;
}

double ConfusionMatrix::total() const {
  double t = 0;
  for (double c : cells_) t += c;
  return t;
}

double ConfusionMatrix::accuracy() const {
  double right = 0;
  for (int64_t i = 0; i < n_; ++i) right += count(i, i);
  return total() > 0 ? right / total() : 0.0;
}

double ConfusionMatrix::precision(int64_t label) const {
  double predicted = 0;
  for (int64_t t = 0; t < n_; ++t) predicted += count(t, label);
  return predicted > 0 ? count(label, label) / predicted : 0.0;
}

double ConfusionMatrix::recall(int64_t label) const {
  double actual = 0;
  for (int64_t p = 0; p < n_; ++p) actual += count(label, p);
  return actual > 0 ? count(label, label) / actual : 0.0;
}

double ConfusionMatrix::f1(int64_t label) const {
  const double p = precision(label), r = recall(label);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double ConfusionMatrix::macro_f1() const {
  double sum = 0;
  for (int64_t i = 0; i < n_; ++i) sum += f1(i);
  return sum / static_cast<double>(n_);
}

nlohmann::json ConfusionMatrix::to_json(const std::vector<std::string>& names) const {
  nlohmann::json per_class = nlohmann::json::array(), rows = nlohmann::json::array();
  for (int64_t i = 0; i < n_; ++i) {
    double support = 0;
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < n_; ++p) {
      support += count(i, p);
      row.push_back(static_cast<int64_t>(count(i, p)));
    }
    rows.push_back(row);
    per_class.push_back({{"label", i < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(i)] : std::to_string(i)},
                         {"precision", precision(i)},
                         {"recall", recall(i)},
                         {"f1", f1(i)},
                         {"support", static_cast<int64_t>(support)}});
  }
  return {{"accuracy", accuracy()}, {"macro_f1", macro_f1()}, {"per_class", per_class}, {"confusion", rows}};
}

}  // namespace temper
