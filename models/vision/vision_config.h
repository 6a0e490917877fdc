// A CNN image classifier's config.json: which architecture, its classes, the input it was trained on
// (size, normalisation) and its batch-norm settings. temper's own schema (HF transformers has no CNN
// configs for these nets); the weights beside it are torch's state dict (torchvision's ResNet names,
// PyPI efficientnet_lite_pytorch's EfficientNet-Lite names), so torch code loads them unchanged.
//   {"architecture": "resnet18" | "resnet34" | "resnet50" | "efficientnet_lite0",
//    "num_classes": 1000, "label_names": [...] (optional), "image_size": 224,
//    "resize_size": 256 (optional: image files are resized to this shorter side, then cut to image_size
//    in the centre, as torchvision's ImageClassification preset; default image_size),
//    "mean": [3 floats], "std": [3 floats] (normalisation of [0, 1] pixels),
//    "batch_norm_eps": 1e-5, "batch_norm_momentum": 0.1 (torch's convention), "dropout": 0.0}
// Unknown architectures and inconsistent values are InputErrors naming the field.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/vision/conv_layers.h"

namespace temper {

constexpr int64_t kMaxVisionInputSide = 16384;  // image_size and resize_size above it are refused

struct VisionConfig {
  std::string architecture;
  std::vector<std::string> labels;  // id -> name, num_classes entries ("0", "1", ... without names)
  int64_t image_size = 224;         // the square input side
  int64_t resize_size = 0;          // image files: the shorter side before the centre crop; 0 = image_size
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  BatchNormSettings bn;
  float dropout = 0.f;  // before the classifier, while training

  int64_t num_classes() const { return static_cast<int64_t>(labels.size()); }
};

// The architectures implemented, for messages.
const std::vector<std::string>& vision_architectures();
bool is_vision_architecture(const std::string& name);

// Defaults of an architecture (batch norm, dropout) before config.json overrides them.
VisionConfig default_vision_config(const std::string& architecture);
VisionConfig vision_config_from_json(const nlohmann::json& j, const std::string& path);
nlohmann::json vision_config_to_json(const VisionConfig& c);
// Image files' shorter side before the centre crop to an input of side `size`: resize_size when size is
// the config's image_size, else size (the whole shorter side).
int64_t default_resize(const VisionConfig& c, int64_t size);
// Class names "0" .. "n-1".
std::vector<std::string> numbered_labels(int64_t n);

}  // namespace temper
