// BERT encoder layer (post-LayerNorm): h = LN1(x + o_proj(attention(q(x), k(x), v(x)))), then
// out = LN2(h + down(gelu(up(h)))). Attention is bidirectional; per-sequence key lengths mask the
// padding. Parameter names follow HF's BertLayer (attention.self.query, attention.output.dense,
// intermediate.dense, output.dense, their LayerNorms).
#pragma once
#include <string>

#include "kernels/gelu.h"
#include "models/blocks/layer_norm.h"
#include "models/blocks/torch_linear.h"

namespace temper {

struct BertLayerConfig {
  int64_t hidden = 0, intermediate = 0;
  int n_head = 0;
  float eps = 1e-12f;
  ops::GeluKind act = ops::GeluKind::Erf;
};

class BertLayer {
 public:
  struct Ctx {
    Tensor x, q, k, v, lse, y;  // x, q, k, v, y: [B,T,C]; lse f32 [B,NH,T] (flash attention)
    Tensor key_lengths;         // i32 [B] on the device
    LayerNorm::Ctx ln1, ln2;    // ln1.x = x + o_proj(y); ln2.x = h + down(act)
    Tensor up, act;             // [B,T,I]: up(h), gelu(up)
  };
  BertLayer(ParameterStore& store, const std::string& prefix, const BertLayerConfig& cfg);
  // x[B,T,C]; key_lengths i32 [B] on x's device. Returns the layer output (= ctx.ln2.out).
  Tensor forward(const Tensor& x, const Tensor& key_lengths, Ctx& ctx) const;
  void backward(const Tensor& dx, const Tensor& dout, const Ctx& ctx) const;  // dx overwritten

 private:
  BertLayerConfig cfg_;
  TorchLinear q_, k_, v_, o_;
  LayerNorm ln1_;
  TorchLinear up_, down_;
  LayerNorm ln2_;
};

}  // namespace temper
