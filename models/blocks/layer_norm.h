// LayerNorm block with learned weight and bias; saves mean/rstd in its context.
#pragma once
#include <string>

#include "runtime/train/parameter_store.h"

namespace temper {

class LayerNorm {
 public:
  struct Ctx {
    Tensor x, out, mean, rstd;  // x, out: [N,C]; mean, rstd: [N] f32
  };
  LayerNorm(ParameterStore& store, const std::string& prefix, int64_t c, float eps);
  // Normalises x[...,C]; returns the output (kept in ctx for the next layer's backward).
  Tensor forward(const Tensor& x, Ctx& ctx) const;
  // dx overwritten; weight/bias gradients accumulated.
  void backward(const Tensor& dx, const Tensor& dy, const Ctx& ctx) const;

 private:
  const ParameterStore* store_;
  int weight_, bias_;
  float eps_;
};

}  // namespace temper
