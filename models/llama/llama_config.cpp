// Llama-family config parsing; settings we do not implement are rejected, never ignored.
#include "models/llama/llama_config.h"


#include "kernels/rope_tables.h"
#include "models/io/json_file.h"
#include "runtime/error.h"

namespace temper {
namespace {

double get_number(const nlohmann::json& j, const std::string& path, const std::string& key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  TEMPER_INPUT_CHECK(j[key].is_number() && j[key].get<double>() > 0, path, key, "must be a positive number");
  return j[key].get<double>();
}

LlamaRope parse_rope(const nlohmann::json& j, const std::string& path) {
  LlamaRope r;
  r.theta = get_number(j, path, "rope_theta", 10000.0);
  const char* key = j.contains("rope_parameters") && !j["rope_parameters"].is_null() ? "rope_parameters" : "rope_scaling";
  if (!j.contains(key) || j[key].is_null()) return r;
  const nlohmann::json& s = j[key];
  TEMPER_INPUT_CHECK(s.is_object(), path, key, "must be an object");
  r.theta = get_number(s, path, "rope_theta", r.theta);
  const std::string kind = s.value("rope_type", s.value("type", std::string("default")));
  TEMPER_INPUT_CHECK(kind == "default" || kind == "linear" || kind == "llama3", path, std::string(key) + ".rope_type",
                     "\"{}\" is not supported (default, linear, llama3)", kind);
  r.type = kind;
  if (kind == "default") return r;
  r.factor = get_number(s, path, "factor", 0.0);
  TEMPER_INPUT_CHECK(r.factor > 0, path, std::string(key) + ".factor", "missing");
  if (kind == "llama3") {
    r.low_freq_factor = get_number(s, path, "low_freq_factor", 1.0);
    r.high_freq_factor = get_number(s, path, "high_freq_factor", 4.0);
    r.original_max_position_embeddings = static_cast<int64_t>(get_number(s, path, "original_max_position_embeddings", 8192));
    TEMPER_INPUT_CHECK(r.high_freq_factor > r.low_freq_factor, path, std::string(key) + ".high_freq_factor",
                       "must exceed low_freq_factor");
  }
  return r;
}

void parse_biases(const nlohmann::json& j, LlamaConfig& c) {
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2's q/k/v projections always carry a bias, o_proj none
  } else if (j.contains("attention_bias") && j["attention_bias"].is_boolean()) {
    c.qkv_bias = c.o_bias = j["attention_bias"].get<bool>();
  }
  if (j.contains("mlp_bias") && j["mlp_bias"].is_boolean()) c.mlp_bias = j["mlp_bias"].get<bool>();
}

}  // namespace

int64_t LlamaConfig::num_parameters() const {
  const int64_t q = n_head * head_dim, kv = n_kv_head * head_dim;
  int64_t layer = 2 * hidden + hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * intermediate;
  if (qkv_bias) layer += q + 2 * kv;
  if (o_bias) layer += hidden;
  if (mlp_bias) layer += 2 * intermediate + hidden;
  return vocab_size * hidden * (tie_embeddings ? 1 : 2) + n_layer * layer + hidden;
}

LlamaConfig llama_config_from_json(const nlohmann::json& j, const std::string& path) {
  TEMPER_INPUT_CHECK(j.is_object() && j.contains("model_type") && j["model_type"].is_string(), path, "model_type",
                     "missing");
  LlamaConfig c;
  c.original = j;
  c.model_type = j["model_type"];
  TEMPER_INPUT_CHECK(c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2", path,
                     "model_type", "\"{}\" is not a Llama-family model (llama, mistral, qwen2)", c.model_type);
  c.n_layer = static_cast<int>(config_positive_int(j, path, "num_hidden_layers", 0, true));
  c.hidden = config_positive_int(j, path, "hidden_size", 0, true);
  c.intermediate = config_positive_int(j, path, "intermediate_size", 0, true);
  c.n_head = static_cast<int>(config_positive_int(j, path, "num_attention_heads", 0, true));
  c.n_kv_head = static_cast<int>(config_positive_int(j, path, "num_key_value_heads", c.n_head, false));
  c.head_dim = config_positive_int(j, path, "head_dim", c.hidden / c.n_head, false);
  c.vocab_size = config_positive_int(j, path, "vocab_size", 0, true);
  c.max_positions = config_positive_int(j, path, "max_position_embeddings", 2048, false);
  TEMPER_INPUT_CHECK(c.n_head % c.n_kv_head == 0, path, "num_key_value_heads",
                     "{} does not divide num_attention_heads {}", c.n_kv_head, c.n_head);
  TEMPER_INPUT_CHECK(c.head_dim % 2 == 0, path, "head_dim", "{} is odd (rotary embedding pairs halves)", c.head_dim);
  c.rms_eps = static_cast<float>(get_number(j, path, "rms_norm_eps", 1e-6));
  c.tie_embeddings = j.value("tie_word_embeddings", false);
  const std::string act = j.value("hidden_act", std::string("silu"));
  TEMPER_INPUT_CHECK(act == "silu", path, "hidden_act", "\"{}\" is not supported (silu)", act);
  parse_biases(j, c);
  c.rope = parse_rope(j, path);
  return c;
}

namespace {
const char* architecture_of(const std::string& model_type) {
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "mistral") return "MistralForCausalLM";
  return "LlamaForCausalLM";
}

// rope_theta + rope_scaling: the form transformers 4 reads and transformers 5 converts.
void write_rope(const LlamaRope& r, nlohmann::json& j) {
  j["rope_theta"] = r.theta;
  if (r.type == "default") {
    j["rope_scaling"] = nullptr;
    return;
  }
  nlohmann::json s = {{"rope_type", r.type}, {"factor", r.factor}};
  if (r.type == "llama3") {
    s["low_freq_factor"] = r.low_freq_factor;
    s["high_freq_factor"] = r.high_freq_factor;
    s["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
  j["rope_scaling"] = s;
}
}  // namespace

nlohmann::json llama_config_to_json(const LlamaConfig& c) {
  // A config read from config.json is written back as it was; one built from GGUF metadata is
  // written out in full.
  if (c.original.is_object() && !c.original.empty()) {
    nlohmann::json j = c.original;
    j["torch_dtype"] = "float32";
    return j;
  }
  nlohmann::json j = {{"model_type", c.model_type},
                      {"architectures", {architecture_of(c.model_type)}},
                      {"hidden_size", c.hidden},
                      {"intermediate_size", c.intermediate},
                      {"num_hidden_layers", c.n_layer},
                      {"num_attention_heads", c.n_head},
                      {"num_key_value_heads", c.n_kv_head},
                      {"head_dim", c.head_dim},
                      {"vocab_size", c.vocab_size},
                      {"max_position_embeddings", c.max_positions},
                      {"rms_norm_eps", c.rms_eps},
                      {"hidden_act", "silu"},
                      {"tie_word_embeddings", c.tie_embeddings},
                      {"attention_bias", c.qkv_bias},
                      {"mlp_bias", c.mlp_bias},
                      {"torch_dtype", "float32"}};
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  write_rope(c.rope, j);
  return j;
}

std::vector<float> llama_inv_freq(const LlamaConfig& c) {
  ops::RopeScaling scaling;
  scaling.kind = ops::rope_scaling_kind(c.rope.type);
  scaling.factor = c.rope.factor;
  scaling.low_freq_factor = c.rope.low_freq_factor;
  scaling.high_freq_factor = c.rope.high_freq_factor;
  scaling.original_max_position_embeddings = c.rope.original_max_position_embeddings;
  return ops::rope_inv_freq(c.head_dim, c.rope.theta, scaling);
}

}  // namespace temper
