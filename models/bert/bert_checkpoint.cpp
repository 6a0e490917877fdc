// BERT checkpoint reading/writing on top of models/io.
#include "models/bert/bert_checkpoint.h"

#include <filesystem>
#include <set>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "runtime/logger.h"

namespace fs = std::filesystem;

namespace temper {
namespace {

// The file's name for one of our parameters: as is, or without "bert." (a bare BertModel).
std::string file_name(const SafetensorsFile& f, const std::string& name) {
  if (f.contains(name)) return name;
  const std::string bare = name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
  return f.contains(bare) ? bare : "";
}

// Tensors a checkpoint may carry that a classifier does not use: buffers and pre-training heads.
bool ignorable(const std::string& name) {
  return name.find("position_ids") != std::string::npos || name.rfind("cls.", 0) == 0;
}

// Loads every parameter found; returns whether the classifier head was in the file.
bool load_weights(BertClassifier& model, const std::string& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  const ParameterStore& store = model.params();
  std::set<std::string> used;
  bool head = true;
  for (int id = 0; id < store.size(); ++id) {
    const ParamInfo& p = store.info(id);
    const std::string name = file_name(f, p.name);
    const bool is_head = p.name.rfind("classifier.", 0) == 0;
    if (is_head && (name.empty() || f.info(name).shape != p.shape)) {
      if (!name.empty()) used.insert(name);  // a head for other labels: replaced
      head = false;
      continue;
    }
    TEMPER_INPUT_CHECK(!name.empty(), file, p.name, "tensor missing from the checkpoint");
    TEMPER_INPUT_CHECK(f.info(name).shape == p.shape, file, name, "shape {} does not match config.json (expected {})",
                       shape_str(f.info(name).shape), shape_str(p.shape));
    store.master(id).copy_from(f.load(name, DType::F32));
    used.insert(name);
  }
  for (const std::string& name : f.names())
    TEMPER_INPUT_CHECK(used.count(name) || ignorable(name), file, name, "unexpected tensor for a BERT encoder");
  store.sync_compute_from_master();
  return head;
}

}  // namespace

namespace {

BertConfig config_with_labels(const std::string& dir, const std::vector<std::string>& labels) {
  const std::string path = (fs::path(dir) / "config.json").string();
  BertConfig cfg = bert_config_from_json(read_json_file(path), path);
  if (!labels.empty()) cfg.labels = labels;
  TEMPER_INPUT_CHECK(cfg.num_labels() > 0, path, "num_labels", "no labels: give the classes (from the data)");
  return cfg;
}

}  // namespace

std::unique_ptr<BertClassifier> random_bert_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                       const std::vector<std::string>& labels, int64_t pad_to,
                                                       uint64_t seed) {
  auto model = std::make_unique<BertClassifier>(config_with_labels(dir, labels), device, compute_dtype, pad_to);
  model->init_random(seed);
  return model;
}

std::unique_ptr<BertClassifier> load_bert_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                     const std::vector<std::string>& labels, int64_t pad_to,
                                                     uint64_t seed) {
  const BertConfig cfg = config_with_labels(dir, labels);
  auto model = std::make_unique<BertClassifier>(cfg, device, compute_dtype, pad_to);
  if (!load_weights(*model, (fs::path(dir) / "model.safetensors").string())) {
    log_info("{}: no classifier for {} labels in the checkpoint; initialised a new one", dir, cfg.num_labels());
    model->init_classifier(seed);
  }
  return model;
}

void BertClassifier::save_pretrained(const std::string& dir) const { save_bert_classifier(*this, dir); }

void save_bert_classifier(const BertClassifier& model, const std::string& dir) {
  fs::create_directories(dir);
  const ParameterStore& store = model.params();
  NamedTensors tensors;
  for (int id = 0; id < store.size(); ++id) tensors.emplace_back(store.info(id).name, store.master(id));
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, DType::F32, {{"format", "pt"}});
  write_json_file_atomic((fs::path(dir) / "config.json").string(), bert_config_to_json(model.config()));
}

}  // namespace temper
