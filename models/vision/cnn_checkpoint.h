// CNN classifier checkpoints: a directory with config.json (vision_config.h) and model.safetensors in
// torch's layout (conv filters OIHW, converted to and from KRSC here), so torchvision /
// efficientnet_lite_pytorch load what we write with load_state_dict unchanged (num_batches_tracked,
// which torch fills in when absent, is neither required nor written).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/vision/cnn_classifier.h"

namespace temper {

struct CnnLoadOptions {
  std::vector<std::string> labels;  // the data's classes; empty = the checkpoint's
  std::string freeze;               // CnnClassifier's freeze argument
  int64_t pad_to = 1;               // ZeRO-1 padding of the trained store
  uint64_t seed = 0;                // a new classifier's initialisation
  float dropout = -1.f;             // >= 0 overrides config.json's dropout
  bool require_classifier = false;  // inference: no fitting classifier in the file is an InputError
};

// A directory whose config.json names a CNN architecture.
bool is_vision_model_dir(const std::string& dir);

// The config.json of a CNN model directory (InputError naming it when missing or malformed).
VisionConfig read_vision_config(const std::string& dir);
// The pretrained network; a classifier for other classes than the checkpoint's is replaced by a
// fresh one (logged), unless options.require_classifier. InputError (file, tensor name) on a missing, misshapen or unexpected tensor.
std::unique_ptr<CnnClassifier> load_cnn_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                   const CnnLoadOptions& options);
// The same architecture with the from-scratch initialisation (CnnClassifier::init_random).
std::unique_ptr<CnnClassifier> random_cnn_classifier(const std::string& dir, Device device, DType compute_dtype,
                                                     const CnnLoadOptions& options);
void save_cnn_classifier(const CnnClassifier& model, const std::string& dir);

// Filter layout conversions (f32 CPU): [K,C,R,S] <-> [K,R,S,C].
Tensor oihw_to_krsc(const Tensor& w);
Tensor krsc_to_oihw(const Tensor& w);

}  // namespace temper
