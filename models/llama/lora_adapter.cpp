// PEFT adapter reading/writing.
#include "models/llama/lora_adapter.h"

#include <filesystem>

#include "models/io/json_file.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "models/io/safetensors.h"

namespace fs = std::filesystem;

namespace temper {
namespace {
const std::string kPrefix = "base_model.model.";
}  // namespace

void save_peft_adapter(const LlamaModel& model, const std::string& dir, const std::string& base_model) {
  TEMPER_CHECK(model.uses_lora(), "save_peft_adapter on a model without LoRA");
  fs::create_directories(dir);
  const ParameterStore& store = model.params();
  NamedTensors tensors;
  for (int id = 0; id < store.size(); ++id) tensors.emplace_back(kPrefix + store.info(id).name, store.master(id));
  save_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors, DType::F32, {{"format", "pt"}});
  const LoraOptions& lora = model.lora();
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"r", lora.r},
                        {"lora_alpha", lora.alpha},
                        {"lora_dropout", lora.dropout},
                        {"target_modules", std::vector<std::string>(lora.modules.begin(), lora.modules.end())},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"inference_mode", true},
                        {"base_model_name_or_path", base_model.empty() ? base_model : fs::absolute(base_model).string()}};
  write_json_file_atomic((fs::path(dir) / "adapter_config.json").string(), cfg);
}

LoraOptions lora_options_from_peft(const std::string& dir) {
  const std::string path = (fs::path(dir) / "adapter_config.json").string();
  const nlohmann::json j = read_json_file(path);
  TEMPER_INPUT_CHECK(j.value("peft_type", std::string()) == "LORA", path, "peft_type", "not a LoRA adapter");
  TEMPER_INPUT_CHECK(j.contains("r") && j["r"].is_number_integer() && j["r"].get<int64_t>() > 0, path, "r",
                     "must be a positive integer");
  TEMPER_INPUT_CHECK(j.contains("lora_alpha") && j["lora_alpha"].is_number(), path, "lora_alpha", "missing");
  TEMPER_INPUT_CHECK(j.contains("target_modules") && j["target_modules"].is_array(), path, "target_modules",
                     "must be a list of module names");
  TEMPER_INPUT_CHECK(!j.value("use_dora", false) && !j.value("use_rslora", false), path, "use_dora",
                     "DoRA / rsLoRA adapters are not supported");
  LoraOptions o;
  o.r = j["r"];
  o.alpha = j["lora_alpha"];
  o.modules.clear();
  for (const auto& m : j["target_modules"]) o.modules.insert(m.get<std::string>());
  // lora_dropout is a training setting: a loaded adapter is used for inference (or trained again
  // with its own --lora-dropout), so it is not taken over.
  return o;
}

void load_peft_adapter(LlamaModel& model, const std::string& dir) {
  const std::string file = (fs::path(dir) / "adapter_model.safetensors").string();
  const SafetensorsFile f = SafetensorsFile::open(file);
  ParameterStore& store = model.params();
  TEMPER_CHECK(model.uses_lora(), "load_peft_adapter on a model without LoRA");
  for (int id = 0; id < store.size(); ++id) {
    const std::string name = kPrefix + store.info(id).name;
    TEMPER_INPUT_CHECK(f.contains(name), file, name, "adapter tensor missing (other target modules or r?)");
    TEMPER_INPUT_CHECK(f.info(name).shape == store.info(id).shape, file, name, "shape {} does not match r={} ({})",
                       shape_str(f.info(name).shape), model.lora().r, shape_str(store.info(id).shape));
    store.master(id).copy_from(f.load(name, DType::F32));
  }
  TEMPER_INPUT_CHECK(static_cast<int>(f.names().size()) == store.size(), file, "tensors",
                     "{} tensors for {} adapter parameters", f.names().size(), store.size());
  store.sync_compute_from_master();
}

void merge_lora_into_base(LlamaModel& model) {
  TEMPER_CHECK(model.uses_lora(), "merge_lora_into_base on a model without LoRA");
  const ParameterStore& adapters = model.params();
  ParameterStore& base = model.base_params();
  const std::string suffix = ".lora_A.weight";
  for (int a = 0; a < adapters.size(); ++a) {
    const std::string& name = adapters.info(a).name;
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string module = name.substr(0, name.size() - suffix.size());
    const int b = adapters.find(module + ".lora_B.weight"), w = base.find(module + ".weight");
    TEMPER_CHECK(b >= 0 && w >= 0, "adapter {} without its lora_B or base weight", module);
    const Tensor scaled_b = adapters.master(b).to(Device::Cpu).clone();
    ops::scale_inplace(scaled_b, model.lora().scale());
    const Tensor merged = base.master(w).to(Device::Cpu);
    ops::matmul(merged, scaled_b, ops::Trans::No, adapters.master(a).to(Device::Cpu), ops::Trans::No, nullptr, 1.f);
    base.master(w).copy_from(merged);
  }
  base.sync_compute_from_master();
}

}  // namespace temper
