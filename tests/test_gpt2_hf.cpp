// GPT-2 against Hugging Face transformers: logits, loss, every parameter gradient and the
// losses of AdamW steps with clipping, on the fixtures made by tools/make_fixtures.py.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "models/gpt2/gpt2_checkpoint.h"
#include "tests/test_util.h"
#include "models/io/safetensors.h"
#include "runtime/train/adamw_optimizer.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

struct Reference {
  SafetensorsFile file;
  nlohmann::json meta;
};

Reference load_reference(const std::string& name) {
  std::ifstream in(fixture(name) + "/reference.json");
  return {SafetensorsFile::open(fixture(name) + "/reference.safetensors"), nlohmann::json::parse(in)};
}

class Gpt2Hf : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2Hf, LogitsLossAndGradientsMatchTransformers) {
  auto model = load_gpt2(fixture(GetParam()), Device::Cpu, DType::F32);
  Reference ref = load_reference(GetParam());
  const Tensor tokens = ref.file.load("tokens", DType::I32), targets = ref.file.load("targets", DType::I32);
  const int ignore = ref.meta["ignore_index"];
  const Tensor logits = model->forward(tokens);
  EXPECT_LT(rel_err(logits.to_vector(), ref.file.load("logits").to_vector()), 1e-5);
  int64_t kept = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) kept += targets.data<int32_t>()[i] != ignore;
  model->params().zero_grads();
  const LossSum ls = model->backward(targets, ignore, 1.f / float(kept));
  EXPECT_EQ(ls.count, kept);
  const double want = ref.file.load("loss").to_vector()[0];
  EXPECT_NEAR(ls.sum / double(ls.count), want, 1e-5 * want);
  const ParameterStore& store = model->params();
  for (int id = 0; id < store.size(); ++id) {
    const std::string& name = store.info(id).name;
    EXPECT_LT(rel_err(store.grad(id).to_vector(), ref.file.load("grad." + name).to_vector()), 1e-4) << name;
  }
}

TEST_P(Gpt2Hf, AdamWStepsWithClippingMatchTorch) {
  auto model = load_gpt2(fixture(GetParam()), Device::Cpu, DType::F32);
  Reference ref = load_reference(GetParam());
  const Tensor tokens = ref.file.load("tokens", DType::I32), targets = ref.file.load("targets", DType::I32);
  const int ignore = ref.meta["ignore_index"];
  AdamWConfig cfg;
  cfg.weight_decay = ref.meta["adamw"]["weight_decay"];
  AdamWOptimizer opt(model->params(), cfg);
  const float lr = ref.meta["adamw"]["lr"], clip = ref.meta["clip"];
  const auto& want = ref.meta["adamw_losses"];
  for (size_t step = 0; step < want.size(); ++step) {
    model->params().zero_grads();
    model->forward(tokens);
    int64_t kept = 0;
    for (int64_t i = 0; i < targets.numel(); ++i) kept += targets.data<int32_t>()[i] != ignore;
    const LossSum ls = model->backward(targets, ignore, 1.f / float(kept));
    const double loss = ls.sum / double(ls.count), expect = want[step];
    EXPECT_NEAR(loss, expect, 2e-5 * expect) << "step " << step;
    if (step + 1 == want.size()) break;
    const double norm = opt.grad_norm();
    EXPECT_NEAR(norm, double(ref.meta["grad_norms"][step]), 1e-4 * norm) << "step " << step;
    opt.step(lr, clip_scale(norm, clip));
  }
}

// Activation recomputation changes memory, not maths: identical loss and gradients, bit for bit.
TEST_P(Gpt2Hf, RecomputeGivesIdenticalGradients) {
  Reference ref = load_reference(GetParam());
  const Tensor tokens = ref.file.load("tokens", DType::I32), targets = ref.file.load("targets", DType::I32);
  std::vector<std::vector<float>> grads;
  std::vector<double> losses;
  for (bool recompute : {false, true}) {
    auto model = load_gpt2(fixture(GetParam()), Device::Cpu, DType::F32);
    model->set_recompute(recompute);
    model->params().zero_grads();
    model->forward(tokens);
    losses.push_back(model->backward(targets, ref.meta["ignore_index"], 0.01f).sum);
    grads.push_back(model->params().grads_flat().to_vector());
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2Hf, ::testing::Values("gpt2_odd", "gpt2_tiny"));

}  // namespace
