// Llama MLP: down_proj(silu(gate_proj(x)) * up_proj(x)).
#pragma once
#include <string>

#include "models/blocks/torch_linear.h"

namespace temper {

class SwiGluMlp {
 public:
  struct Ctx {
    Tensor x, gate, up, act;  // x[N,C]; gate, up, act = silu(gate) * up: [N,I]
  };
  SwiGluMlp(ParameterStore& store, const std::string& prefix, int64_t c, int64_t hidden, Bias bias,
            const LoraTargets& lora = LoraTargets());
  Tensor forward(const Tensor& x, Ctx& ctx) const;
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  TorchLinear gate_, up_, down_;
};

}  // namespace temper
