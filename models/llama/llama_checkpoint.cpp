// Llama-family checkpoint reading/writing on top of models/io.
#include "models/llama/llama_checkpoint.h"

#include <filesystem>
#include <set>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/llama/lora_adapter.h"

namespace temper {

std::unique_ptr<LlamaModel> load_llama(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to,
                                       MasterCopy master_copy, const LoraOptions& lora) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  auto model = std::make_unique<LlamaModel>(llama_config_from_json(read_json_file(path), path), device, compute_dtype,
                                            pad_to, master_copy, lora);
  model->set_source(dir);
  load_llama_weights(*model, (std::filesystem::path(dir) / "model.safetensors").string());
  return model;
}

namespace {

// QLoRA: the projection weights are quantized to the store's type as they are read.
void load_quantized_weights(LlamaModel& model, const SafetensorsFile& f, std::set<std::string>& used) {
  QuantizedStore* q = model.quantized_base();
  if (!q) return;
  TEMPER_INPUT_CHECK(model.lora().base_quant == BaseQuant::Quantize, f.path(), "dtype",
                     "an HF checkpoint has no quantized types to keep: name one to quantize to (e.g. --qlora q4_0)");
  for (int id = 0; id < q->size(); ++id) {
    const std::string& name = q->name(id);
    TEMPER_INPUT_CHECK(f.contains(name), f.path(), name, "tensor missing from the checkpoint");
    TEMPER_INPUT_CHECK(f.info(name).shape == q->shape(id), f.path(), name,
                       "shape {} does not match config.json (expected {})", shape_str(f.info(name).shape),
                       shape_str(q->shape(id)));
    q->set_from_f32(id, f.load(name, DType::F32));
    used.insert(name);
  }
}

}  // namespace

void load_llama_weights(LlamaModel& model, const std::string& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  const ParameterStore& store = model.base_params();
  std::set<std::string> used;
  for (int id = 0; id < store.size(); ++id) {
    const ParamInfo& p = store.info(id);
    TEMPER_INPUT_CHECK(f.contains(p.name), file, p.name, "tensor missing from the checkpoint");
    const Shape shape = f.info(p.name).shape;
    TEMPER_INPUT_CHECK(shape == p.shape, file, p.name, "shape {} does not match config.json (expected {})",
                       shape_str(shape), shape_str(p.shape));
    store.master(id).copy_from(f.load(p.name, DType::F32));
    used.insert(p.name);
  }
  load_quantized_weights(model, f, used);
  for (const std::string& name : f.names()) {
    const bool tied_head = name == "lm_head.weight" && model.config().tie_embeddings;
    const bool rotary_buffer = name.find("rotary_emb.inv_freq") != std::string::npos;
    TEMPER_INPUT_CHECK(used.count(name) || tied_head || rotary_buffer, file, name,
                       "unexpected tensor (not part of a {} with this config)", model.model_type());
  }
  model.finish_base_load();
}

void save_llama(const LlamaModel& model, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const ParameterStore& store = model.base_params();
  NamedTensors tensors;
  for (int id = 0; id < store.size(); ++id) tensors.emplace_back(store.info(id).name, store.master(id));
  save_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), tensors, DType::F32,
                   {{"format", "pt"}});
  write_json_file_atomic((std::filesystem::path(dir) / "config.json").string(), llama_config_to_json(model.config()));
}

void LlamaModel::save_pretrained(const std::string& dir) const {
  if (uses_lora()) return save_peft_adapter(*this, dir, source_);
  save_llama(*this, dir);
}

}  // namespace temper
