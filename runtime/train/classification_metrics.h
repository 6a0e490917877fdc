// Classification metrics from a confusion matrix: accuracy, macro-F1, per-class precision / recall.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace temper {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_labels);
  void add(int32_t truth, int32_t predicted);
  int64_t num_labels() const { return n_; }
  double count(int64_t truth, int64_t predicted) const { return cells_[static_cast<size_t>(truth * n_ + predicted)]; }
  std::vector<double>& cells() { return cells_; }  // row = truth, column = prediction (for reductions)
  double total() const;
  double accuracy() const;
  double precision(int64_t label) const;  // 0 when nothing was predicted as `label`
  double recall(int64_t label) const;     // 0 when `label` never occurs
  double f1(int64_t label) const;
  double macro_f1() const;
  // {"accuracy", "macro_f1", "per_class": [{label, precision, recall, f1, support}], "confusion": [[...]]}
  nlohmann::json to_json(const std::vector<std::string>& names) const;

 private:
  int64_t n_;
  std::vector<double> cells_;
};

}  // namespace temper
