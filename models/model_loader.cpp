// Model family dispatch on config.json's model_type.
#include "models/model_loader.h"

#include <filesystem>

#include "models/gpt2/gpt2_checkpoint.h"
#include "models/io/json_file.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/llama_gguf.h"
#include "models/llama/lora_adapter.h"

namespace temper {

namespace {

// A PEFT adapter directory: its base (adapter_config.json's base_model_name_or_path, relative paths
// taken from the adapter directory) with the adapters loaded on top.
// Training settings that are not part of the adapter (dropout, a quantized base) come from `lora`.
std::unique_ptr<CausalLm> load_adapter_dir(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to,
                                           const LoraOptions& lora) {
  const std::string path = (std::filesystem::path(dir) / "adapter_config.json").string();
  const nlohmann::json cfg = read_json_file(path);
  TEMPER_INPUT_CHECK(cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string(), path,
                     "base_model_name_or_path", "missing: the adapter does not say which base model it belongs to");
  std::filesystem::path base = cfg["base_model_name_or_path"].get<std::string>();
  if (base.is_relative()) base = std::filesystem::path(dir) / base;
  TEMPER_INPUT_CHECK(std::filesystem::exists(base), path, "base_model_name_or_path", "{} does not exist", base.string());
  LoraOptions options = lora_options_from_peft(dir);
  options.dropout = lora.dropout;
  options.base_quant = lora.base_quant;
  options.base_quant_type = lora.base_quant_type;
  auto model = load_causal_lm(base.string(), device, compute_dtype, pad_to, options);
  load_peft_adapter(dynamic_cast<LlamaModel&>(*model), dir);
  return model;
}

}  // namespace

std::unique_ptr<CausalLm> load_causal_lm(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to,
                                         const LoraOptions& lora) {
  if (std::filesystem::exists(std::filesystem::path(dir) / "adapter_config.json") &&
      !std::filesystem::exists(std::filesystem::path(dir) / "config.json"))
    return load_adapter_dir(dir, device, compute_dtype, pad_to, lora);
  if (dir.size() > 5 && dir.compare(dir.size() - 5, 5, ".gguf") == 0 && std::filesystem::is_regular_file(dir))
    return load_llama_gguf(dir, device, compute_dtype, pad_to, MasterCopy::AliasWhenF32, lora);
  TEMPER_INPUT_CHECK(std::filesystem::is_directory(dir), dir, "model directory", "not a directory");
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  const nlohmann::json cfg = read_json_file(path);
  TEMPER_INPUT_CHECK(cfg.is_object() && cfg.contains("model_type") && cfg["model_type"].is_string(), path,
                     "model_type", "missing");
  const std::string type = cfg["model_type"];
  if (type == "llama" || type == "mistral" || type == "qwen2")
    return load_llama(dir, device, compute_dtype, pad_to, MasterCopy::AliasWhenF32, lora);
  TEMPER_INPUT_CHECK(lora.r == 0, "--lora-r", "value", "LoRA is implemented for the Llama family, not {}", type);
  TEMPER_INPUT_CHECK(type == "gpt2", path, "model_type",
                     "unknown model type \"{}\" (supported: gpt2, llama, mistral, qwen2)", type);
  return load_gpt2(dir, device, compute_dtype, pad_to);
}

}  // namespace temper
