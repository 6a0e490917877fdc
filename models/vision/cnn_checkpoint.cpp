// CNN checkpoint reading and writing.
#include "models/vision/cnn_checkpoint.h"

#include <filesystem>
#include <set>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "runtime/logger.h"

namespace fs = std::filesystem;

namespace temper {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// OIHW [K,C,R,S] -> KRSC [K,R,S,C] (to_krsc), or back.
Tensor permute_filter(const Tensor& w, bool to_krsc) {
  TEMPER_CHECK(w.ndim() == 4 && w.dtype() == DType::F32 && w.device() == Device::Cpu, "filter layout: f32 CPU 4-D");
  const int64_t k = w.dim(0);
  // to_krsc: source [K,C,R,S]; else source [K,R,S,C].
  const int64_t c = to_krsc ? w.dim(1) : w.dim(3), r = to_krsc ? w.dim(2) : w.dim(1), s = to_krsc ? w.dim(3) : w.dim(2);
  Tensor out = Tensor::empty(to_krsc ? Shape{k, r, s, c} : Shape{k, c, r, s}, DType::F32);
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (int64_t ki = 0; ki < k; ++ki)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t ri = 0; ri < r; ++ri)
        for (int64_t si = 0; si < s; ++si) {
          const int64_t oihw = ((ki * c + ci) * r + ri) * s + si, krsc = ((ki * r + ri) * s + si) * c + ci;
          if (to_krsc)
            dst[krsc] = src[oihw];
          else
            dst[oihw] = src[krsc];
        }
  return out;
}

VisionConfig read_config(const std::string& dir, const CnnLoadOptions& options) {
  VisionConfig cfg = read_vision_config(dir);
  if (!options.labels.empty()) cfg.labels = options.labels;
  if (options.dropout >= 0.f) cfg.dropout = options.dropout;
  return cfg;
}

// Loads every tensor; returns whether the file's classifier fits (else it is left for a fresh one).
bool load_weights(CnnClassifier& model, const std::string& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  std::set<std::string> used;
  std::set<std::string> head_names;
  for (const CnnTensorRef& t : model.classifier_tensors()) head_names.insert(t.name);
  bool head = true;
  for (const CnnTensorRef& t : model.checkpoint_tensors()) {
    const bool present = f.contains(t.name);
    if (head_names.count(t.name) && (!present || f.info(t.name).shape != t.torch_shape)) {
      if (present) used.insert(t.name);  // a classifier for other classes: replaced
      head = false;
      continue;
    }
    TEMPER_INPUT_CHECK(present, file, t.name, "tensor missing from the checkpoint");
    TEMPER_INPUT_CHECK(f.info(t.name).shape == t.torch_shape, file, t.name, "shape {} does not match {} (expected {})",
                       shape_str(f.info(t.name).shape), model.config().architecture, shape_str(t.torch_shape));
    const Tensor value = f.load(t.name, DType::F32);
    t.store->master(t.id).copy_from(t.conv_filter() ? oihw_to_krsc(value) : value);
    used.insert(t.name);
  }
  for (const std::string& name : f.names())
    TEMPER_INPUT_CHECK(used.count(name) || ends_with(name, ".num_batches_tracked"), file, name,
                       "unexpected tensor for {}", model.config().architecture);
  model.sync_compute();
  return head;
}

}  // namespace

VisionConfig read_vision_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  return vision_config_from_json(read_json_file(path), path);
}

Tensor oihw_to_krsc(const Tensor& w) { return permute_filter(w, true); }
Tensor krsc_to_oihw(const Tensor& w) { return permute_filter(w, false); }

bool is_vision_model_dir(const std::string& dir) {
  const fs::path config = fs::path(dir) / "config.json";
  if (!fs::is_directory(dir) || !fs::exists(config)) return false;
  const nlohmann::json j = read_json_file(config.string());
  return j.is_object() && j.contains("architecture") && j["architecture"].is_string();
}

std::unique_ptr<CnnClassifier> load_cnn_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                   const CnnLoadOptions& options) {
  auto model = std::make_unique<CnnClassifier>(read_config(dir, options), device, compute_dtype, options.pad_to,
                                               options.freeze);
  const std::string file = (fs::path(dir) / "model.safetensors").string();
  if (!load_weights(*model, file)) {
    TEMPER_INPUT_CHECK(!options.require_classifier, file, model->classifier_tensors().front().name,
                       "missing or not shaped for the config's {} classes: no trained classifier to run",
                       model->config().num_classes());
    log_info("{}: no classifier for {} classes in the checkpoint; initialised a new one", dir,
             model->config().num_classes());
    model->init_classifier(options.seed);
  }
  return model;
}

std::unique_ptr<CnnClassifier> random_cnn_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                     const CnnLoadOptions& options) {
  auto model = std::make_unique<CnnClassifier>(read_config(dir, options), device, compute_dtype, options.pad_to,
                                               options.freeze);
  model->init_random(options.seed);
  return model;
}

void CnnClassifier::save_pretrained(const std::string& dir) const { save_cnn_classifier(*this, dir); }

void save_cnn_classifier(const CnnClassifier& model, const std::string& dir) {
  fs::create_directories(dir);
  NamedTensors tensors;
  for (const CnnTensorRef& t : model.checkpoint_tensors()) {
    Tensor value = t.store->master(t.id);
    if (value.device() != Device::Cpu) value = value.to(Device::Cpu);
    tensors.emplace_back(t.name, t.conv_filter() ? krsc_to_oihw(value) : value);
  }
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, DType::F32, {{"format", "pt"}});
  write_json_file_atomic((fs::path(dir) / "config.json").string(), vision_config_to_json(model.config()));
}

}  // namespace temper
