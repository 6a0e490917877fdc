// GPT-2 MLP block: c_fc (C -> 4C), GELU (tanh), c_proj (4C -> C).
#pragma once
#include <string>

#include "models/blocks/linear.h"

namespace temper {

class Mlp {
 public:
  struct Ctx {
    Tensor x, h, g;  // x[N,C], h = c_fc(x) [N,4C], g = gelu(h)
  };
  Mlp(ParameterStore& store, const std::string& prefix, int64_t c, int64_t hidden);
  Tensor forward(const Tensor& x, Ctx& ctx) const;
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  Linear c_fc_, c_proj_;
};

}  // namespace temper
