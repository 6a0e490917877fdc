// ResNet and EfficientNet-Lite block layouts.
#include "models/vision/cnn_architectures.h"

#include <fmt/format.h>

namespace temper {
namespace {

using ops::Activation;
using ops::Conv2dParams;

Conv2dParams conv(int64_t stride, int64_t pad, int64_t groups = 1) { return Conv2dParams::square(stride, pad, 1, groups); }

// TensorFlow's SAME padding for a 224 input, as efficientnet_lite_pytorch computes it once: stride 1
// pads (k-1)/2 on each side; stride 2 (on an even size) pads (k-2)/2 before and one more after.
Conv2dParams tf_same(int64_t kernel, int64_t stride, int64_t groups) {
  if (stride == 1) return conv(1, (kernel - 1) / 2, groups);
  Conv2dParams p = conv(stride, (kernel - 2) / 2, groups);
  p.extra_pad_h = p.extra_pad_w = 1;
  return p;
}

struct ResNetSpec {
  bool bottleneck;
  std::vector<int> blocks;
};

ResNetSpec resnet_spec(const std::string& arch) {
  if (arch == "resnet18") return {false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, {3, 4, 6, 3}};
  TEMPER_CHECK(arch == "resnet50", "not a ResNet: {}", arch);
  return {true, {3, 4, 6, 3}};
}

// One BasicBlock / Bottleneck of torchvision: conv1/bn1 ... then downsample.0/.1 when the shape changes.
ChainBlock resnet_block(const LayerStores& st, const std::string& prefix, bool bottleneck, int64_t in, int64_t planes,
                        int64_t stride, const BatchNormSettings& bn) {
  const int64_t out = bottleneck ? planes * 4 : planes;
  std::vector<ConvBnAct> chain;
  auto unit = [&](int i, int64_t cin, int64_t cout, int64_t k, const Conv2dParams& prm, bool relu) {
    chain.emplace_back(st, fmt::format("{}.conv{}", prefix, i), fmt::format("{}.bn{}", prefix, i), cin, cout, k, prm,
                       bn, relu ? std::optional<Activation>(Activation::Relu) : std::nullopt);
  };
  if (bottleneck) {
    unit(1, in, planes, 1, conv(1, 0), true);
    unit(2, planes, planes, 3, conv(stride, 1), true);
    unit(3, planes, out, 1, conv(1, 0), false);
  } else {
    unit(1, in, planes, 3, conv(stride, 1), true);
    unit(2, planes, planes, 3, conv(1, 1), false);
  }
  ChainBlockSpec spec{Shortcut::Identity, Activation::Relu, std::nullopt};
  if (stride == 1 && in == out) return ChainBlock(std::move(chain), spec);
  spec.shortcut = Shortcut::Projection;
  ConvBnAct projection(st, prefix + ".downsample.0", prefix + ".downsample.1", in, out, 1, conv(stride, 0), bn,
                       std::nullopt);
  return ChainBlock(std::move(chain), spec, std::move(projection));
}

void build_resnet(const VisionConfig& cfg, CnnAssembler& out) {
  const ResNetSpec spec = resnet_spec(cfg.architecture);
  {
    std::vector<ConvBnAct> stem;
    stem.emplace_back(out.stores_for(0), "conv1", "bn1", 3, 64, 7, conv(2, 3), cfg.bn, Activation::Relu);
    out.add_block(0, ChainBlock(std::move(stem), {Shortcut::None, std::nullopt, ops::Pool2dWindow::square(3, 2, 1)}));
  }
  int64_t in = 64;
  for (int layer = 0; layer < 4; ++layer) {
    const int64_t planes = int64_t{64} << layer;
    for (int b = 0; b < spec.blocks[static_cast<size_t>(layer)]; ++b) {
      const int64_t stride = layer > 0 && b == 0 ? 2 : 1;
      out.add_block(layer + 1, resnet_block(out.stores_for(layer + 1), fmt::format("layer{}.{}", layer + 1, b),
                                            spec.bottleneck, in, planes, stride, cfg.bn));
      in = spec.bottleneck ? planes * 4 : planes;
    }
  }
}

// EfficientNet-Lite0's stages: repeats, kernel, first stride, expansion, in and out channels.
struct MbStage {
  int repeats;
  int64_t kernel, stride, expand, in, out;
};
const MbStage kLite0Stages[] = {{1, 3, 1, 1, 32, 16},   {2, 3, 2, 6, 16, 24},   {2, 5, 2, 6, 24, 40},
                                {3, 3, 2, 6, 40, 80},   {3, 5, 1, 6, 80, 112},  {4, 5, 2, 6, 112, 192},
                                {1, 3, 1, 6, 192, 320}};

ChainBlock mbconv_block(const LayerStores& st, int index, const MbStage& s, int64_t in, int64_t stride,
                        const BatchNormSettings& bn) {
  const std::string p = fmt::format("_blocks.{}.", index);
  const int64_t mid = in * s.expand;
  std::vector<ConvBnAct> chain;
  if (s.expand != 1)
    chain.emplace_back(st, p + "_expand_conv", p + "_bn0", in, mid, 1, conv(1, 0), bn, Activation::Relu6);
  chain.emplace_back(st, p + "_depthwise_conv", p + "_bn1", mid, mid, s.kernel, tf_same(s.kernel, stride, mid), bn,
                     Activation::Relu6);
  chain.emplace_back(st, p + "_project_conv", p + "_bn2", mid, s.out, 1, conv(1, 0), bn, std::nullopt);
  const bool skip = stride == 1 && in == s.out;
  return ChainBlock(std::move(chain), {skip ? Shortcut::Identity : Shortcut::None, std::nullopt, std::nullopt});
}

void build_efficientnet_lite0(const VisionConfig& cfg, CnnAssembler& out) {
  {
    std::vector<ConvBnAct> stem;
    stem.emplace_back(out.stores_for(0), "_conv_stem", "_bn0", 3, 32, 3, tf_same(3, 2, 1), cfg.bn, Activation::Relu6);
    out.add_block(0, ChainBlock(std::move(stem), {}));
  }
  int index = 0, stage = 1;
  for (const MbStage& s : kLite0Stages) {
    for (int r = 0; r < s.repeats; ++r, ++index)
      out.add_block(stage, mbconv_block(out.stores_for(stage), index, s, r == 0 ? s.in : s.out, r == 0 ? s.stride : 1,
                                        cfg.bn));
    ++stage;
  }
  std::vector<ConvBnAct> head;
  head.emplace_back(out.stores_for(stage), "_conv_head", "_bn1", 320, 1280, 1, conv(1, 0), cfg.bn, Activation::Relu6);
  out.add_block(stage, ChainBlock(std::move(head), {}));
}

}  // namespace

CnnLayout cnn_layout(const std::string& architecture) {
  if (architecture == "efficientnet_lite0")
    return {{"stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head"}, 1280, "_fc"};
  return {{"stem", "layer1", "layer2", "layer3", "layer4"}, resnet_spec(architecture).bottleneck ? 2048 : 512, "fc"};
}

void build_cnn_blocks(const VisionConfig& cfg, CnnAssembler& out) {
  if (cfg.architecture == "efficientnet_lite0") return build_efficientnet_lite0(cfg, out);
  build_resnet(cfg, out);
}

}  // namespace temper
