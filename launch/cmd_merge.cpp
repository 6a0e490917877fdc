// `temper merge`: a LoRA adapter directory folded into its base model, written as a full checkpoint
// in HF layout (config.json, model.safetensors, tokenizer files), as PEFT's merge_and_unload would.
#include <filesystem>

#include "launch/commands.h"
#include "models/io/json_file.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/lora_adapter.h"
#include "models/model_loader.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/logger.h"

namespace fs = std::filesystem;

namespace temper::cli {
namespace {

int run(const std::string& adapter, const std::string& output) {
  TEMPER_INPUT_CHECK(fs::exists(fs::path(adapter) / "adapter_config.json"), adapter, "adapter_config.json",
                     "not a LoRA adapter directory");
  auto model = load_causal_lm(adapter, Device::Cpu, DType::F32);
  auto& llama = dynamic_cast<LlamaModel&>(*model);
  merge_lora_into_base(llama);
  save_llama(llama, output);
  for (const std::string& name : tokenizer_files())
    if (fs::exists(fs::path(adapter) / name))
      copy_file((fs::path(adapter) / name).string(), (fs::path(output) / name).string());
  log_info("merged {} (r {}, alpha {}) into its base: {}", adapter, llama.lora().r, llama.lora().alpha, output);
  return 0;
}

}  // namespace

Runner add_merge(CLI::App& app) {
  auto adapter = std::make_shared<std::string>(), output = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("merge", "fold a LoRA adapter into its base and write a full checkpoint");
  c->add_option("--adapter", *adapter, "LoRA adapter directory (PEFT format)")->required();
  c->add_option("--output", *output, "output directory (HF layout)")->required();
  return [adapter, output] { return run(*adapter, *output); };
}

}  // namespace temper::cli
