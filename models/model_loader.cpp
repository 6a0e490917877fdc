// Model family dispatch on config.json's model_type.
#include "models/model_loader.h"

#include <filesystem>

#include "models/gpt2/gpt2_checkpoint.h"
#include "models/io/json_file.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/llama_gguf.h"

namespace temper {

std::unique_ptr<CausalLm> load_causal_lm(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to) {
  if (dir.size() > 5 && dir.compare(dir.size() - 5, 5, ".gguf") == 0 && std::filesystem::is_regular_file(dir))
    return load_llama_gguf(dir, device, compute_dtype, pad_to);
  TEMPER_INPUT_CHECK(std::filesystem::is_directory(dir), dir, "model directory", "not a directory");
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  const nlohmann::json cfg = read_json_file(path);
  TEMPER_INPUT_CHECK(cfg.is_object() && cfg.contains("model_type") && cfg["model_type"].is_string(), path,
                     "model_type", "missing");
  const std::string type = cfg["model_type"];
  if (type == "llama" || type == "mistral" || type == "qwen2") return load_llama(dir, device, compute_dtype, pad_to);
  TEMPER_INPUT_CHECK(type == "gpt2", path, "model_type",
                     "unknown model type \"{}\" (supported: gpt2, llama, mistral, qwen2)", type);
  return load_gpt2(dir, device, compute_dtype, pad_to);
}

}  // namespace temper
