// BERT encoder hyper-parameters (model_type bert) from a Hugging Face config.json, plus the labels of a
// sequence-classification head (num_labels, id2label / label2id). Settings we do not implement
// (relative position embeddings, other activations) are rejected, never ignored.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/gelu.h"

namespace temper {

// How a sequence becomes one vector for the classifier: HF's pooler (dense + tanh on [CLS]), or the
// mean of the last hidden states over the real tokens (sentence-transformers' pooling; recorded as
// "temper_pooling": "mean" in config.json, which transformers does not read).
enum class BertPooling { Cls, Mean };

struct BertConfig {
  int n_layer = 0, n_head = 0;
  int64_t hidden = 0, intermediate = 0, vocab_size = 0, max_positions = 0, type_vocab_size = 2;
  float layer_norm_eps = 1e-12f;
  float initializer_range = 0.02f;
  ops::GeluKind act = ops::GeluKind::Erf;  // "gelu" = erf form; "gelu_new" = tanh form
  int pad_token_id = 0;
  BertPooling pooling = BertPooling::Cls;
  std::vector<std::string> labels;  // id -> label name (num_labels entries); empty for a bare encoder
  nlohmann::json original;          // the config.json read

  int64_t head_dim() const { return hidden / n_head; }
  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
};

BertConfig bert_config_from_json(const nlohmann::json& j, const std::string& path);
// config.json of a BertForSequenceClassification with this config (architectures, id2label, label2id).
nlohmann::json bert_config_to_json(const BertConfig& c);

}  // namespace temper
