// GPT-2 hyper-parameters read from (and written back to) a Hugging Face config.json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace temper {

struct Gpt2Config {
  int n_layer = 12;
  int n_head = 12;
  int64_t n_embd = 768;
  int64_t n_positions = 1024;
  int64_t vocab_size = 50257;
  int64_t n_inner = 0;  // 0 = 4 * n_embd
  float layer_norm_epsilon = 1e-5f;
  int bos_token_id = -1, eos_token_id = -1;
  nlohmann::json original;  // the file's full contents, preserved on save

  int64_t mlp_hidden() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t num_parameters() const;
};

// Parses and validates a GPT-2 config (`path` only names the file in errors).
Gpt2Config gpt2_config_from_json(const nlohmann::json& j, const std::string& path);
nlohmann::json gpt2_config_to_json(const Gpt2Config& c);

}  // namespace temper
