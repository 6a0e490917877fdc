// GPT-2 config parsing: rejects unknown model types and settings we do not implement,
// so a checkpoint never silently runs with different maths than transformers.
#include "models/gpt2/gpt2_config.h"

#include "runtime/error.h"

namespace temper {
namespace {

template <class T>
T get_positive(const nlohmann::json& j, const std::string& path, const char* key, T fallback, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    TEMPER_INPUT_CHECK(!required, path, key, "missing");
    return fallback;
  }
  TEMPER_INPUT_CHECK(j[key].is_number_integer(), path, key, "must be an integer, got {}", j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  TEMPER_INPUT_CHECK(v > 0 && v < (int64_t(1) << 31), path, key, "must be positive, got {}", v);
  return static_cast<T>(v);
}

void expect_value(const nlohmann::json& j, const std::string& path, const char* key, const nlohmann::json& ok) {
  if (!j.contains(key) || j[key].is_null()) return;
  TEMPER_INPUT_CHECK(j[key] == ok, path, key, "{} is not supported (only {})", j[key].dump(), ok.dump());
}

}  // namespace

int64_t Gpt2Config::num_parameters() const {
  const int64_t c = n_embd, h = mlp_hidden();
  const int64_t per_layer = 4 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * h + h) + (h * c + c);
  return vocab_size * c + n_positions * c + n_layer * per_layer + 2 * c;
}

Gpt2Config gpt2_config_from_json(const nlohmann::json& j, const std::string& path) {
  TEMPER_INPUT_CHECK(j.is_object(), path, "(root)", "not a JSON object");
  TEMPER_INPUT_CHECK(j.contains("model_type") && j["model_type"].is_string(), path, "model_type", "missing");
  const std::string type = j["model_type"].get<std::string>();
  TEMPER_INPUT_CHECK(type == "gpt2", path, "model_type", "unknown model type \"{}\" (supported: gpt2)", type);
  Gpt2Config c;
  c.original = j;
  c.n_layer = get_positive<int>(j, path, "n_layer", 12, true);
  c.n_head = get_positive<int>(j, path, "n_head", 12, true);
  c.n_embd = get_positive<int64_t>(j, path, "n_embd", 768, true);
  c.n_positions = get_positive<int64_t>(j, path, "n_positions", 1024, true);
  c.vocab_size = get_positive<int64_t>(j, path, "vocab_size", 50257, true);
  c.n_inner = get_positive<int64_t>(j, path, "n_inner", 0, false);
  TEMPER_INPUT_CHECK(c.n_embd % c.n_head == 0, path, "n_head", "n_embd {} is not divisible by n_head {}", c.n_embd,
                     c.n_head);
  if (j.contains("layer_norm_epsilon")) {
    TEMPER_INPUT_CHECK(j["layer_norm_epsilon"].is_number(), path, "layer_norm_epsilon", "must be a number");
    c.layer_norm_epsilon = j["layer_norm_epsilon"].get<float>();
    TEMPER_INPUT_CHECK(c.layer_norm_epsilon > 0, path, "layer_norm_epsilon", "must be positive");
  }
  if (j.contains("activation_function") && j["activation_function"] == "gelu_pytorch_tanh") {
  } else {
    expect_value(j, path, "activation_function", "gelu_new");
  }
  expect_value(j, path, "scale_attn_weights", true);
  expect_value(j, path, "scale_attn_by_inverse_layer_idx", false);
  expect_value(j, path, "reorder_and_upcast_attn", false);
  expect_value(j, path, "add_cross_attention", false);
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_token_id = j["bos_token_id"];
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_token_id = j["eos_token_id"];
  return c;
}

nlohmann::json gpt2_config_to_json(const Gpt2Config& c) {
  nlohmann::json j = c.original.is_object() ? c.original : nlohmann::json::object();
  j["model_type"] = "gpt2";
  j["architectures"] = {"GPT2LMHeadModel"};
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  j["n_embd"] = c.n_embd;
  j["n_positions"] = c.n_positions;
  j["vocab_size"] = c.vocab_size;
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  if (c.n_inner > 0) j["n_inner"] = c.n_inner;
  if (!j.contains("activation_function")) j["activation_function"] = "gelu_new";
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace temper
