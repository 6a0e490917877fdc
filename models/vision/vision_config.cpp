// Vision config parsing and writing.
#include "models/vision/vision_config.h"

#include <algorithm>
#include <cmath>

#include "models/io/json_file.h"
#include "runtime/error.h"

namespace temper {
namespace {

float finite_number(const nlohmann::json& j, const std::string& path, const char* key, float fallback, bool positive) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  TEMPER_INPUT_CHECK(j[key].is_number(), path, key, "must be a number");
  const double v = j[key].get<double>();
  TEMPER_INPUT_CHECK(std::isfinite(v) && (positive ? v > 0 : v >= 0), path, key, "{} must be {}", v,
                     positive ? "positive" : "non-negative");
  return static_cast<float>(v);
}

std::vector<float> three_floats(const nlohmann::json& j, const std::string& path, const char* key,
                                const std::vector<float>& fallback, bool positive) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const nlohmann::json& a = j[key];
  TEMPER_INPUT_CHECK(a.is_array() && a.size() == 3, path, key, "must be a list of 3 numbers (R, G, B)");
  std::vector<float> v;
  for (const nlohmann::json& x : a) {
    TEMPER_INPUT_CHECK(x.is_number() && std::isfinite(x.get<double>()) && (!positive || x.get<double>() > 0), path,
                       key, "must hold {} numbers", positive ? "positive" : "finite");
    v.push_back(x.get<float>());
  }
  return v;
}

std::vector<std::string> parse_labels(const nlohmann::json& j, const std::string& path) {
  const int64_t n = config_positive_int(j, path, "num_classes", 0, true);
  if (!j.contains("label_names") || j["label_names"].is_null()) return numbered_labels(n);
  const nlohmann::json& names = j["label_names"];
  TEMPER_INPUT_CHECK(names.is_array() && static_cast<int64_t>(names.size()) == n, path, "label_names",
                     "must be a list of num_classes ({}) names", n);
  std::vector<std::string> labels;
  for (const nlohmann::json& s : names) {
    TEMPER_INPUT_CHECK(s.is_string(), path, "label_names", "must hold strings");
    labels.push_back(s.get<std::string>());
  }
  return labels;
}

}  // namespace

const std::vector<std::string>& vision_architectures() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50", "efficientnet_lite0"};
  return names;
}

bool is_vision_architecture(const std::string& name) {
  for (const std::string& a : vision_architectures())
    if (a == name) return true;
  return false;
}

std::vector<std::string> numbered_labels(int64_t n) {
  std::vector<std::string> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(std::to_string(i));
  return labels;
}

int64_t default_resize(const VisionConfig& c, int64_t size) {
  return size == c.image_size ? std::max(c.resize_size, size) : size;
}

VisionConfig default_vision_config(const std::string& architecture) {
  VisionConfig c;
  c.architecture = architecture;
  if (architecture == "efficientnet_lite0") {
    c.bn = BatchNormSettings{1e-3f, 0.01f};  // TensorFlow's 0.99 decay
    c.dropout = 0.2f;
  }
  return c;
}

VisionConfig vision_config_from_json(const nlohmann::json& j, const std::string& path) {
  TEMPER_INPUT_CHECK(j.is_object(), path, "config", "must be a JSON object");
  TEMPER_INPUT_CHECK(j.contains("architecture") && j["architecture"].is_string(), path, "architecture", "missing");
  const std::string arch = j["architecture"];
  TEMPER_INPUT_CHECK(is_vision_architecture(arch), path, "architecture", "\"{}\" is not one of: {}", arch,
                     fmt::join(vision_architectures(), ", "));
  VisionConfig c = default_vision_config(arch);
  c.labels = parse_labels(j, path);
  c.image_size = config_positive_int(j, path, "image_size", c.image_size, false);
  c.resize_size = config_positive_int(j, path, "resize_size", c.image_size, false);
  for (const auto& [key, value] : {std::pair{"image_size", c.image_size}, std::pair{"resize_size", c.resize_size}})
    TEMPER_INPUT_CHECK(value <= kMaxVisionInputSide, path, key, "{} is over {}", value, kMaxVisionInputSide);
  TEMPER_INPUT_CHECK(c.resize_size >= c.image_size, path, "resize_size", "{} is smaller than image_size {}",
                     c.resize_size, c.image_size);
  c.mean = three_floats(j, path, "mean", c.mean, false);
  c.std = three_floats(j, path, "std", c.std, true);
  c.bn.eps = finite_number(j, path, "batch_norm_eps", c.bn.eps, true);
  c.bn.momentum = finite_number(j, path, "batch_norm_momentum", c.bn.momentum, true);
  TEMPER_INPUT_CHECK(c.bn.momentum <= 1.f, path, "batch_norm_momentum", "{} must lie in (0, 1]", c.bn.momentum);
  c.dropout = finite_number(j, path, "dropout", c.dropout, false);
  TEMPER_INPUT_CHECK(c.dropout < 1.f, path, "dropout", "{} must lie in [0, 1)", c.dropout);
  return c;
}

nlohmann::json vision_config_to_json(const VisionConfig& c) {
  return {{"architecture", c.architecture}, {"num_classes", c.num_classes()}, {"label_names", c.labels},
          {"image_size", c.image_size},     {"resize_size", std::max(c.resize_size, c.image_size)},
          {"mean", c.mean},                 {"std", c.std},
          {"batch_norm_eps", c.bn.eps},     {"batch_norm_momentum", c.bn.momentum}, {"dropout", c.dropout}};
}

}  // namespace temper
