// Llama-family hyper-parameters (model_type llama, mistral, qwen2) from a Hugging Face config.json.
// Reads both the transformers 4 form (rope_theta + rope_scaling) and the transformers 5 form
// (rope_parameters holding rope_theta and the scaling).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace temper {

struct LlamaRope {
  double theta = 10000.0;
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type = "llama";
  int n_layer = 0;
  int n_head = 0, n_kv_head = 0;
  int64_t hidden = 0, intermediate = 0, head_dim = 0;
  int64_t vocab_size = 0, max_positions = 0;
  float rms_eps = 1e-6f;
  bool tie_embeddings = false;
  bool qkv_bias = false;  // Qwen2: always; Llama: attention_bias
  bool o_bias = false;    // Llama attention_bias also covers o_proj
  bool mlp_bias = false;
  LlamaRope rope;
  int bos_token_id = -1, eos_token_id = -1;
  nlohmann::json original;  // the config.json read (empty when built from GGUF metadata)

  int64_t num_parameters() const;
};

LlamaConfig llama_config_from_json(const nlohmann::json& j, const std::string& path);
nlohmann::json llama_config_to_json(const LlamaConfig& c);
// inv_freq [head_dim / 2] with theta and the rope scaling applied (transformers' formulas).
std::vector<float> llama_inv_freq(const LlamaConfig& c);

}  // namespace temper
