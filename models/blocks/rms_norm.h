// RMSNorm block (Llama family): learned weight, no bias; saves rstd in its context.
#pragma once
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

class RmsNorm {
 public:
  struct Ctx {
    Tensor x, out, rstd;  // x, out: [N,C]; rstd: [N] f32
  };
  RmsNorm(ParameterStore& store, const std::string& prefix, int64_t c, float eps);
  Tensor forward(const Tensor& x, Ctx& ctx) const;
  void backward(const Tensor& dx, const Tensor& dy, const Ctx& ctx) const;  // dx overwritten

 private:
  const ParameterStore* store_;
  int weight_;
  float eps_;
};

}  // namespace temper
