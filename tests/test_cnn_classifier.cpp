// CnnClassifier behaviour beyond the peer match (test_cnn_models.cpp): the torch-layout save -> load
// round trip, a classifier for other classes replacing the checkpoint's, freezing (frozen weights out
// of params(), batch-norm statistics of frozen stages untouched, backward stopping at the frozen
// prefix), bad checkpoints and configs, and the random initialisation's statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/error.h"
#include "tests/test_util.h"

using namespace temper;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / fmt::format("temper_cnncls_{}_{}", tag, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

VisionConfig resnet18_config(int64_t classes) {
  VisionConfig c = default_vision_config("resnet18");
  c.labels = numbered_labels(classes);
  return c;
}

Tensor images(int64_t n, int64_t size, uint64_t seed) { return test::randn({n, size, size, 3}, seed); }

std::vector<float> logits_of(CnnClassifier& m, const Tensor& x) {
  Tensor logits;
  m.evaluate(x, Tensor::from_i32(std::vector<int32_t>(static_cast<size_t>(x.dim(0)), 0), {x.dim(0)}), &logits);
  return logits.to_vector();
}

TEST(CnnClassifier, SaveLoadRoundTripInTorchLayout) {
  CnnClassifier a(resnet18_config(5), Device::Cpu, DType::F32);
  a.init_random(7);
  const std::string dir = temp_dir("roundtrip");
  a.save_pretrained(dir);
  // torch's layout on disk: OIHW filters, running statistics, the config's classes.
  const SafetensorsFile f = SafetensorsFile::open(dir + "/model.safetensors");
  EXPECT_EQ(f.info("conv1.weight").shape, (Shape{64, 3, 7, 7}));
  EXPECT_EQ(f.info("layer2.0.downsample.0.weight").shape, (Shape{128, 64, 1, 1}));
  EXPECT_TRUE(f.contains("layer4.1.bn2.running_var"));
  EXPECT_EQ(f.info("fc.weight").shape, (Shape{5, 512}));
  auto b = load_cnn_classifier(dir, Device::Cpu, DType::F32, {});
  EXPECT_EQ(b->labels(), a.labels());
  const Tensor x = images(2, 32, 1);
  EXPECT_EQ(logits_of(a, x), logits_of(*b, x));
  fs::remove_all(dir);
}

// resize_size (image files: the shorter side before the centre crop) defaults to image_size, is kept
// through save -> load, and default_resize gives it only for an input of the config's own size.
TEST(CnnClassifier, InputSizesRoundTrip) {
  const VisionConfig plain = vision_config_from_json({{"architecture", "resnet18"}, {"num_classes", 2}}, "c.json");
  EXPECT_EQ(plain.image_size, 224);
  EXPECT_EQ(plain.resize_size, 224);
  CnnClassifier a(resnet18_config(2), Device::Cpu, DType::F32);
  a.init_random(3);
  a.set_input_size(64, 72);
  const std::string dir = temp_dir("sizes");
  a.save_pretrained(dir);
  const VisionConfig c = read_vision_config(dir);
  EXPECT_EQ(c.image_size, 64);
  EXPECT_EQ(c.resize_size, 72);
  EXPECT_EQ(default_resize(c, 64), 72);
  EXPECT_EQ(default_resize(c, 32), 32);
  EXPECT_EQ(default_resize(c, 96), 96);
  fs::remove_all(dir);
}

TEST(CnnClassifier, OtherClassesGetAFreshClassifier) {
  CnnClassifier a(resnet18_config(10), Device::Cpu, DType::F32);
  a.init_random(3);
  const std::string dir = temp_dir("replace");
  a.save_pretrained(dir);
  CnnLoadOptions o;
  o.labels = {"cat", "dog", "bird"};
  auto b = load_cnn_classifier(dir, Device::Cpu, DType::F32, o);
  EXPECT_EQ(b->config().num_classes(), 3);
  const ParameterStore& s = b->params();
  const Tensor fc = s.master(s.find("fc.weight"));
  EXPECT_EQ(fc.shape(), (Shape{3, 512}));
  const float bound = 1.f / std::sqrt(512.f);  // torch's nn.Linear initialisation
  for (float v : fc.to_vector()) EXPECT_LE(std::fabs(v), bound);
  // The body is the checkpoint's.
  EXPECT_EQ(s.master(s.find("layer1.0.conv1.weight")).to_vector(),
            a.params().master(a.params().find("layer1.0.conv1.weight")).to_vector());
  fs::remove_all(dir);
}

TEST(CnnClassifier, FreezingKeepsFrozenStagesOutOfTraining) {
  CnnClassifier full(resnet18_config(4), Device::Cpu, DType::F32);
  CnnClassifier frozen(resnet18_config(4), Device::Cpu, DType::F32, 1, "layer2");
  EXPECT_LT(frozen.params().numel(), full.params().numel());
  EXPECT_EQ(frozen.params().find("layer2.1.conv2.weight"), -1);
  EXPECT_GE(frozen.params().find("layer3.0.conv1.weight"), 0);
  EXPECT_EQ(frozen.checkpoint_tensors().size(), full.checkpoint_tensors().size());
  frozen.init_random(5);
  const Tensor x = images(4, 32, 2);
  frozen.params().zero_grads();
  frozen.forward(x);
  frozen.backward(Tensor::from_i32({0, 1, 2, 3}, {4}), 0.25f);
  // Frozen stages' statistics are as initialised (mean 0); trained stages' moved.
  for (const CnnTensorRef& t : frozen.checkpoint_tensors()) {
    if (t.store != nullptr && t.name.find("running_mean") != std::string::npos) {
      const std::vector<float> now = t.store->param(t.id).to_vector();
      const bool frozen_stage = t.name.rfind("bn1.", 0) == 0 || t.name.rfind("layer1.", 0) == 0 ||
                                t.name.rfind("layer2.", 0) == 0;
      EXPECT_EQ(now == std::vector<float>(now.size(), 0.f), frozen_stage) << t.name;
    }
  }
  double g = 0;
  for (float v : frozen.params().grads_flat().to_vector()) g += std::fabs(v);
  EXPECT_GT(g, 0);
  EXPECT_THROW(CnnClassifier(resnet18_config(4), Device::Cpu, DType::F32, 1, "layer9"), InputError);
}

TEST(CnnClassifier, BackboneFreezeTrainsTheClassifierOnly) {
  CnnClassifier m(resnet18_config(3), Device::Cpu, DType::F32, 1, "backbone");
  m.init_random(1);
  EXPECT_EQ(m.params().size(), 2);  // fc.weight, fc.bias
  m.params().zero_grads();
  m.forward(images(2, 32, 3));
  const LossSum l = m.backward(Tensor::from_i32({0, 2}, {2}), 0.5f);
  EXPECT_EQ(l.count, 2);
  double g = 0;
  for (float v : m.params().grads_flat().to_vector()) g += std::fabs(v);
  EXPECT_GT(g, 0);
}

TEST(CnnClassifier, RandomInitialisationFollowsTorchvision) {
  CnnClassifier m(resnet18_config(10), Device::Cpu, DType::F32);
  m.init_random(11);
  const ParameterStore& s = m.params();
  const std::vector<float> w = s.master(s.find("layer3.0.conv2.weight")).to_vector();  // K = 256, 3x3
  double sum2 = 0;
  for (float v : w) sum2 += double(v) * v;
  EXPECT_NEAR(std::sqrt(sum2 / static_cast<double>(w.size())), std::sqrt(2.0 / (256 * 9)), 0.002);
  for (float v : s.master(s.find("layer3.0.bn2.weight")).to_vector()) EXPECT_EQ(v, 1.f);
  for (float v : s.master(s.find("layer3.0.bn2.bias")).to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(CnnClassifier, BadCheckpointsAreInputErrors) {
  CnnClassifier a(resnet18_config(2), Device::Cpu, DType::F32);
  a.init_random(2);
  const std::string dir = temp_dir("bad");
  a.save_pretrained(dir);
  // A filter of the wrong shape.
  NamedTensors t;
  const SafetensorsFile good = SafetensorsFile::open(dir + "/model.safetensors");
  for (const std::string& name : good.names())
    t.emplace_back(name, name == "layer1.0.conv1.weight" ? Tensor::zeros({64, 64, 1, 1}, DType::F32) : good.load(name));
  save_safetensors(dir + "/model.safetensors", t, DType::F32);
  try {
    load_cnn_classifier(dir, Device::Cpu, DType::F32, {});
    FAIL() << "a misshapen filter loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer1.0.conv1.weight"), std::string::npos) << e.what();
  }
  // An unknown architecture.
  write_json_file_atomic(dir + "/config.json", {{"architecture", "vgg16"}, {"num_classes", 2}});
  EXPECT_THROW(load_cnn_classifier(dir, Device::Cpu, DType::F32, {}), InputError);
  write_json_file_atomic(dir + "/config.json", {{"architecture", "resnet18"}, {"num_classes", 2}, {"std", {1, 0, 1}}});
  EXPECT_THROW(load_cnn_classifier(dir, Device::Cpu, DType::F32, {}), InputError);
  write_json_file_atomic(dir + "/config.json",
                         {{"architecture", "resnet18"}, {"num_classes", 2}, {"image_size", 64}, {"resize_size", 32}});
  try {
    read_vision_config(dir);
    FAIL() << "resize_size below image_size accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "resize_size") << e.what();
  }
  write_json_file_atomic(dir + "/config.json", {{"architecture", "resnet18"}, {"num_classes", 2}, {"image_size", 20000}});
  try {
    read_vision_config(dir);
    FAIL() << "image_size 20000 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "image_size") << e.what();
  }
  fs::remove_all(dir);
}

TEST(CnnClassifier, FilterLayoutConversionsAreInverse) {
  const Tensor oihw = test::randn({4, 3, 5, 2}, 9);
  const Tensor krsc = oihw_to_krsc(oihw);
  EXPECT_EQ(krsc.shape(), (Shape{4, 5, 2, 3}));
  EXPECT_EQ(krsc.data<float>()[((1 * 5 + 2) * 2 + 1) * 3 + 2], oihw.data<float>()[((1 * 3 + 2) * 5 + 2) * 2 + 1]);
  EXPECT_EQ(krsc_to_oihw(krsc).to_vector(), oihw.to_vector());
}

}  // namespace

namespace temper {
namespace {

// Multiply-adds of one image's forward, as torch.utils.flop_counter.FlopCounterMode counts them
// (convolutions + the classifier, FLOPs / 2) on torchvision's models and efficientnet_lite_pytorch's
// EfficientNet-Lite0 (its padding fixed for 224, as ours), 1000 classes.
TEST(CnnClassifier, ForwardMacsMatchTorchsFlopCounter) {
  struct Case {
    const char* arch;
    int64_t size;
    double macs;
  };
  const Case cases[] = {{"resnet18", 224, 1814073344.0}, {"resnet18", 64, 148557824.0},
                        {"resnet34", 224, 3663761408.0}, {"resnet50", 224, 4089184256.0},
                        {"resnet50", 64, 335691776.0},   {"efficientnet_lite0", 224, 385187552.0},
                        {"efficientnet_lite0", 64, 32619392.0}};
  for (const Case& c : cases) {
    VisionConfig cfg = default_vision_config(c.arch);
    cfg.labels = numbered_labels(1000);
    const CnnClassifier m(cfg, Device::Cpu, DType::F32);
    EXPECT_EQ(m.forward_macs(c.size, c.size), c.macs) << c.arch << " at " << c.size;
  }
}

}  // namespace
}  // namespace temper
