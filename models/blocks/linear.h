// Linear layer in HF GPT-2 Conv1D layout: weight [in, out], y = x @ W + b.
#pragma once
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

class Linear {
 public:
  Linear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out);
  // y[N,out] = x[N,in] @ W + b (leading dims of x/y are flattened).
  void forward(const Tensor& y, const Tensor& x) const;
  // dW += x^T dy, db += sum(dy); dx[N,in] = dy W^T when dx is defined.
  void backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  const ParameterStore* store_;
  int weight_, bias_;
  int64_t in_, out_;
};

// A new activation tensor of `shape` with the dtype and device of `like`.
Tensor new_activation(const Shape& shape, const Tensor& like);

}  // namespace temper
