// GPT-2 checkpoint reading/writing on top of models/io (safetensors, JSON).
#include "models/gpt2/gpt2_checkpoint.h"

#include <filesystem>
#include <set>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace temper {
namespace {

// Tensors HF checkpoints may carry that are not parameters here.
bool is_ignorable(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name == "lm_head.weight" || ends_with(".attn.bias") || ends_with(".attn.masked_bias");
}

// The file's name for our parameter: with or without the `transformer.` prefix (GPT2Model vs LMHead).
std::string file_name_for(const SafetensorsFile& f, const std::string& ours) {
  if (f.contains(ours)) return ours;
  const std::string bare = ours.substr(std::string("transformer.").size());
  return f.contains(bare) ? bare : std::string();
}

}  // namespace

Gpt2Config load_gpt2_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return gpt2_config_from_json(read_json_file(path), path);
}

std::unique_ptr<Gpt2Model> load_gpt2(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to,
                                     MasterCopy master_copy) {
  auto model = std::make_unique<Gpt2Model>(load_gpt2_config(dir), device, compute_dtype, pad_to, master_copy);
  load_gpt2_weights(*model, (std::filesystem::path(dir) / "model.safetensors").string());
  return model;
}

void load_gpt2_weights(Gpt2Model& model, const std::string& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  const ParameterStore& store = model.params();
  std::set<std::string> used;
  for (int id = 0; id < store.size(); ++id) {
    const ParamInfo& p = store.info(id);
    const std::string name = file_name_for(f, p.name);
    TEMPER_INPUT_CHECK(!name.empty(), file, p.name, "tensor missing from the checkpoint");
    const Shape shape = f.info(name).shape;
    TEMPER_INPUT_CHECK(shape == p.shape, file, name, "shape {} does not match config.json (expected {})",
                       shape_str(shape), shape_str(p.shape));
    store.master(id).copy_from(f.load(name, DType::F32));
    used.insert(name);
  }
  for (const std::string& name : f.names())
    TEMPER_INPUT_CHECK(used.count(name) || is_ignorable(name), file, name,
                       "unexpected tensor (not part of a GPT-2 with this config)");
  store.sync_compute_from_master();
}

void save_gpt2(const Gpt2Model& model, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const ParameterStore& store = model.params();
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (int id = 0; id < store.size(); ++id) tensors.emplace_back(store.info(id).name, store.master(id));
  save_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), tensors, DType::F32,
                   {{"format", "pt"}});
  write_json_file_atomic((std::filesystem::path(dir) / "config.json").string(), gpt2_config_to_json(model.config()));
}

void Gpt2Model::save_pretrained(const std::string& dir) const { save_gpt2(*this, dir); }

}  // namespace temper
