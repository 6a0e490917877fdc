// BERT for sequence classification (HF BertForSequenceClassification): embeddings (word + absolute
// position + token type, LayerNorm), N post-LN encoder layers with bidirectional attention over each
// sequence's real tokens, pooler (dense + tanh on the [CLS] position), classifier. Hand-written
// forward/backward over one flat parameter store, like the causal LMs. No dropout (yet).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/bert/bert_config.h"
#include "models/blocks/bert_layer.h"
#include "runtime/train/causal_lm.h"

namespace temper {

// One batch of (padded) sequences: tokens and token types i32 [B,T] (types may be undefined: all 0),
// lengths i32 [B] (real tokens; the rest is padding). Any device.
struct ClassifierInput {
  Tensor tokens, token_types, lengths;
};

class BertClassifier {
 public:
  BertClassifier(const BertConfig& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
                 MasterCopy master_copy = MasterCopy::AliasWhenF32);
  const BertConfig& config() const { return cfg_; }
  ParameterStore& params() { return store_; }
  const ParameterStore& params() const { return store_; }

  // transformers' initialisation of the head (classifier weight ~ N(0, initializer_range), bias 0),
  // for checkpoints without one.
  void init_classifier(uint64_t seed);
  // Logits [B, num_labels] on the model's device (compute dtype); keeps activations for backward.
  Tensor forward(const ClassifierInput& in);
  // Cross-entropy of the last forward's logits against labels i32 [B] (-100 = ignored); gradients of
  // dloss * sum(losses) accumulated into params(). Frees the activations.
  LossSum backward(const Tensor& labels, float dloss);
  LossSum evaluate(const ClassifierInput& in, const Tensor& labels);

 private:
  struct Ctx {
    Tensor tokens, types, lengths;  // on the device
    LayerNorm::Ctx emb_ln;
    std::vector<BertLayer::Ctx> layers;
    Tensor cls, pooled, logits;  // [B,C], [B,C], [B,L]
  };
  Tensor embed(const ClassifierInput& in);
  void embed_backward(const Tensor& dh);
  LossSum loss(const Tensor& labels, float dloss, bool want_grad);

  BertConfig cfg_;
  ParameterStore store_;
  int word_ = -1, position_ = -1, token_type_ = -1;
  std::unique_ptr<LayerNorm> emb_ln_;
  std::vector<BertLayer> layers_;
  std::unique_ptr<TorchLinear> pooler_, classifier_;
  int classifier_weight_ = -1, classifier_bias_ = -1;
  Ctx ctx_;
};

}  // namespace temper
