// Every model family against Hugging Face transformers on small random checkpoints it wrote
// (tools/make_fixtures.py): GPT-2 (odd n_embd 36, vocab 1003), Llama (GQA 6/2, hidden 60, llama3
// rope scaling, untied head) and Qwen2 (q/k/v bias, tied head). Logits, loss, every parameter
// gradient and the losses of AdamW steps with clipping; activation recomputation changes nothing.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "models/io/safetensors.h"
#include "models/model_loader.h"
#include "runtime/train/adamw_optimizer.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

struct Reference {
  SafetensorsFile file;
  nlohmann::json meta;
  Tensor tokens, targets;
  int ignore = -100;
  int64_t kept = 0;
};

Reference load_reference(const std::string& name) {
  std::ifstream in(fixture(name) + "/reference.json");
  Reference r{SafetensorsFile::open(fixture(name) + "/reference.safetensors"), nlohmann::json::parse(in), {}, {}};
  r.tokens = r.file.load("tokens", DType::I32);
  r.targets = r.file.load("targets", DType::I32);
  r.ignore = r.meta["ignore_index"];
  for (int64_t i = 0; i < r.targets.numel(); ++i) r.kept += r.targets.data<int32_t>()[i] != r.ignore;
  return r;
}

class ModelHf : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelHf, LogitsLossAndGradientsMatchTransformers) {
  auto model = load_causal_lm(fixture(GetParam()), Device::Cpu, DType::F32);
  const Reference ref = load_reference(GetParam());
  const Tensor logits = model->forward(ref.tokens);
  EXPECT_LT(rel_err(logits.to_vector(), ref.file.load("logits").to_vector()), 1e-5);
  model->params().zero_grads();
  const LossSum ls = model->backward(ref.targets, ref.ignore, 1.f / float(ref.kept));
  EXPECT_EQ(ls.count, ref.kept);
  const double want = ref.file.load("loss").to_vector()[0];
  EXPECT_NEAR(ls.sum / double(ls.count), want, 1e-5 * want);
  const ParameterStore& store = model->params();
  for (int id = 0; id < store.size(); ++id) {
    const std::string& name = store.info(id).name;
    EXPECT_LT(rel_err(store.grad(id).to_vector(), ref.file.load("grad." + name).to_vector()), 1e-4) << name;
  }
}

TEST_P(ModelHf, AdamWStepsWithClippingMatchTorch) {
  auto model = load_causal_lm(fixture(GetParam()), Device::Cpu, DType::F32);
  const Reference ref = load_reference(GetParam());
  AdamWConfig cfg;
  cfg.weight_decay = ref.meta["adamw"]["weight_decay"];
  AdamWOptimizer opt(model->params(), cfg);
  const float lr = ref.meta["adamw"]["lr"], clip = ref.meta["clip"];
  const auto& want = ref.meta["adamw_losses"];
  for (size_t step = 0; step < want.size(); ++step) {
    model->params().zero_grads();
    model->forward(ref.tokens);
    const LossSum ls = model->backward(ref.targets, ref.ignore, 1.f / float(ref.kept));
    const double loss = ls.sum / double(ls.count), expect = want[step];
    EXPECT_NEAR(loss, expect, 2e-5 * expect) << "step " << step;
    if (step + 1 == want.size()) break;
    const double norm = opt.grad_norm();
    EXPECT_NEAR(norm, double(ref.meta["grad_norms"][step]), 1e-4 * norm) << "step " << step;
    opt.step(lr, clip_scale(norm, clip));
  }
}

// Activation recomputation changes memory, not maths: identical loss and gradients, bit for bit.
TEST_P(ModelHf, RecomputeGivesIdenticalGradients) {
  const Reference ref = load_reference(GetParam());
  std::vector<std::vector<float>> grads;
  std::vector<double> losses;
  for (bool recompute : {false, true}) {
    auto model = load_causal_lm(fixture(GetParam()), Device::Cpu, DType::F32);
    model->set_recompute(recompute);
    model->params().zero_grads();
    model->forward(ref.tokens);
    losses.push_back(model->backward(ref.targets, ref.ignore, 0.01f).sum);
    grads.push_back(model->params().grads_flat().to_vector());
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelHf, ::testing::Values("gpt2_odd", "gpt2_tiny", "llama_gqa", "qwen2_gqa"));

}  // namespace
