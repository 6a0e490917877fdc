// BERT config parsing and writing.
#include "models/bert/bert_config.h"

#include "models/io/json_file.h"
#include "runtime/error.h"

namespace temper {
namespace {

// id2label {"0": "negative", ...} (or num_labels alone: LABEL_0 ...), checked to be ids 0..n-1.
std::vector<std::string> parse_labels(const nlohmann::json& j, const std::string& path) {
  std::vector<std::string> labels;
  if (j.contains("id2label") && j["id2label"].is_object()) {
    const nlohmann::json& m = j["id2label"];
    labels.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string key = std::to_string(i);
      TEMPER_INPUT_CHECK(m.contains(key) && m[key].is_string(), path, "id2label", "ids must be 0..{} with names",
                         m.size() - 1);
      labels[i] = m[key].get<std::string>();
    }
  }
  const int64_t n = config_positive_int(j, path, "num_labels", static_cast<int64_t>(labels.size()), false);
  if (labels.empty())
    for (int64_t i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
  TEMPER_INPUT_CHECK(static_cast<int64_t>(labels.size()) == n, path, "num_labels", "{} does not match id2label ({})",
                     n, labels.size());
  return labels;
}

}  // namespace

BertConfig bert_config_from_json(const nlohmann::json& j, const std::string& path) {
  TEMPER_INPUT_CHECK(j.is_object(), path, "config", "must be a JSON object");
  TEMPER_INPUT_CHECK(j.value("model_type", std::string()) == "bert", path, "model_type", "must be \"bert\"");
  BertConfig c;
  c.original = j;
  c.n_layer = static_cast<int>(config_positive_int(j, path, "num_hidden_layers", 0, true));
  c.n_head = static_cast<int>(config_positive_int(j, path, "num_attention_heads", 0, true));
  c.hidden = config_positive_int(j, path, "hidden_size", 0, true);
  c.intermediate = config_positive_int(j, path, "intermediate_size", 0, true);
  c.vocab_size = config_positive_int(j, path, "vocab_size", 0, true);
  c.max_positions = config_positive_int(j, path, "max_position_embeddings", 512, false);
  c.type_vocab_size = config_positive_int(j, path, "type_vocab_size", 2, false);
  TEMPER_INPUT_CHECK(c.hidden % c.n_head == 0, path, "num_attention_heads", "{} does not divide hidden_size {}",
                     c.n_head, c.hidden);
  if (j.contains("layer_norm_eps")) {
    TEMPER_INPUT_CHECK(j["layer_norm_eps"].is_number() && j["layer_norm_eps"].get<double>() > 0, path,
                       "layer_norm_eps", "must be a positive number");
    c.layer_norm_eps = j["layer_norm_eps"].get<float>();
  }
  if (j.contains("initializer_range") && j["initializer_range"].is_number())
    c.initializer_range = j["initializer_range"].get<float>();
  const std::string act = j.value("hidden_act", std::string("gelu"));
  TEMPER_INPUT_CHECK(act == "gelu" || act == "gelu_new", path, "hidden_act", "\"{}\" is not supported (gelu, gelu_new)",
                     act);
  c.act = act == "gelu" ? ops::GeluKind::Erf : ops::GeluKind::Tanh;
  const std::string pos = j.value("position_embedding_type", std::string("absolute"));
  TEMPER_INPUT_CHECK(pos == "absolute", path, "position_embedding_type", "\"{}\" is not supported (absolute)", pos);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer()) c.pad_token_id = j["pad_token_id"];
  c.labels = parse_labels(j, path);
  const std::string pooling = j.value("temper_pooling", std::string("cls"));
  TEMPER_INPUT_CHECK(pooling == "cls" || pooling == "mean", path, "temper_pooling", "\"{}\" (cls, mean)", pooling);
  c.pooling = pooling == "mean" ? BertPooling::Mean : BertPooling::Cls;
  return c;
}

nlohmann::json bert_config_to_json(const BertConfig& c) {
  nlohmann::json j = c.original.is_object() ? c.original : nlohmann::json::object();
  j["model_type"] = "bert";
  j["architectures"] = {"BertForSequenceClassification"};
  j["num_hidden_layers"] = c.n_layer;
  j["num_attention_heads"] = c.n_head;
  j["hidden_size"] = c.hidden;
  j["intermediate_size"] = c.intermediate;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_positions;
  j["type_vocab_size"] = c.type_vocab_size;
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["hidden_act"] = c.act == ops::GeluKind::Erf ? "gelu" : "gelu_new";
  j["pad_token_id"] = c.pad_token_id;
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (size_t i = 0; i < c.labels.size(); ++i) {
    id2label[std::to_string(i)] = c.labels[i];
    label2id[c.labels[i]] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  j.erase("num_labels");
  j.erase("temper_pooling");
  if (c.pooling == BertPooling::Mean) j["temper_pooling"] = "mean";
  return j;
}

}  // namespace temper
