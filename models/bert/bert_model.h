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
#include "runtime/train/sequence_classifier.h"

namespace temper {

class BertClassifier : public SequenceClassifier {
 public:
  BertClassifier(const BertConfig& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
                 MasterCopy master_copy = MasterCopy::AliasWhenF32);
  const BertConfig& config() const { return cfg_; }
  ParameterStore& params() override { return store_; }
  const ParameterStore& params() const override { return store_; }
  std::string model_type() const override { return "bert"; }
  const std::vector<std::string>& labels() const override { return cfg_.labels; }
  // HF BertForSequenceClassification layout (config.json with id2label + model.safetensors).
  void save_pretrained(const std::string& dir) const override;

  // transformers' initialisation of the head (classifier weight ~ N(0, initializer_range), bias 0),
  // for checkpoints without one.
  void init_classifier(uint64_t seed);
  // transformers' initialisation of the whole model (the "from scratch" baseline): linear and
  // embedding weights ~ N(0, initializer_range) (the padding token's row 0), biases 0, LayerNorm 1 / 0.
  void init_random(uint64_t seed);
  void set_pooling(BertPooling pooling) { cfg_.pooling = pooling; }  // no parameters change
  Tensor forward(const ClassifierInput& in) override;
  LossSum backward(const Tensor& labels, float dloss) override;
  LossSum evaluate(const ClassifierInput& in, const Tensor& labels, Tensor* logits = nullptr) override;

 private:
  struct Ctx {
    Tensor tokens, types, lengths;  // on the device
    LayerNorm::Ctx emb_ln;
    std::vector<BertLayer::Ctx> layers;
    Tensor cls, pooled, logits;  // [B,C], [B,C], [B,L]
    Tensor mean_weights;         // mean pooling: [B, B*T], row b = 1/len_b over sequence b's tokens
  };
  Tensor embed(const ClassifierInput& in);
  Tensor pool(const Tensor& h);                 // [B,T,C] -> [B,C] into ctx_
  Tensor pool_backward(const Tensor& dpooled);  // -> dh [B,T,C]
  void embed_backward(const Tensor& dh);
  LossSum loss(const Tensor& labels, float dloss, bool want_grad);

  BertConfig cfg_;
  ParameterStore store_;
  int word_ = -1, position_ = -1, token_type_ = -1;
  std::unique_ptr<LayerNorm> emb_ln_;
  std::vector<BertLayer> layers_;
  std::vector<std::pair<int, int>> layer_param_ids_;  // [first, end) per layer, for grad-ready hooks
  int pooler_first_ = -1;
  std::unique_ptr<TorchLinear> pooler_, classifier_;
  int classifier_weight_ = -1, classifier_bias_ = -1;
  Ctx ctx_;
};

}  // namespace temper
