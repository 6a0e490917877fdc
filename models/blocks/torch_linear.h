// Linear layer in torch.nn.Linear layout (Llama family): weight [out, in], y = x W^T (+ b).
#pragma once
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

enum class Bias { With, Without };

class TorchLinear {
 public:
  TorchLinear(ParameterStore& store, const std::string& prefix, int64_t in, int64_t out, Bias bias);
  void forward(const Tensor& y, const Tensor& x) const;  // y[N,out] from x[N,in]
  // dW += dy^T x (db += sum dy); dx[N,in] = dy W when dx is defined.
  void backward(const Tensor& dx, const Tensor& dy, const Tensor& x) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  int first_param() const { return weight_; }

 private:
  const ParameterStore* store_;
  int weight_, bias_ = -1;
  int64_t in_, out_;
};

}  // namespace temper
