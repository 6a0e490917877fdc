// Every model family on CUDA against Hugging Face transformers (the fp32 fixtures of
// tests/test_model_hf.cpp): fp32 compute to a tight tolerance, bf16 mixed precision (bf16
// activations, fp32 master weights and gradients) to a stated bf16 tolerance; plus AdamW steps.
// Skips without a GPU.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "models/model_loader.h"
#include "tests/test_util.h"
#include "models/io/safetensors.h"
#include "runtime/device_memory.h"
#include "runtime/train/adamw_optimizer.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

struct Case {
  const char* fixture;
  DType compute;
  double logits_tol, loss_tol, grad_tol;
};

// bf16 keeps 8 mantissa bits (relative rounding 2^-9 ~ 2e-3 per op); after a few layers of
// matmuls the observed max error relative to the largest value is a few 1e-3, so 3e-2 on logits
// and 1e-1 on gradients (whose small entries lose most) leave margin without hiding a wrong kernel.
class ModelCuda : public ::testing::TestWithParam<Case> {};

TEST_P(ModelCuda, MatchesTransformers) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Case c = GetParam();
  auto model = load_causal_lm(fixture(c.fixture), Device::Cuda, c.compute);
  const SafetensorsFile ref = SafetensorsFile::open(fixture(c.fixture) + "/reference.safetensors");
  std::ifstream in(fixture(c.fixture) + "/reference.json");
  const nlohmann::json meta = nlohmann::json::parse(in);
  const int ignore = meta["ignore_index"];
  const Tensor tokens = ref.load("tokens", DType::I32), targets = ref.load("targets", DType::I32);
  const Tensor logits = model->forward(tokens);
  EXPECT_LT(rel_err(logits.to_vector(), ref.load("logits").to_vector()), c.logits_tol);
  int64_t kept = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) kept += targets.data<int32_t>()[i] != ignore;
  model->params().zero_grads();
  const LossSum ls = model->backward(targets, ignore, 1.f / float(kept));
  const double want = ref.load("loss").to_vector()[0];
  EXPECT_NEAR(ls.sum / double(ls.count), want, c.loss_tol * want);
  const ParameterStore& store = model->params();
  for (int id = 0; id < store.size(); ++id) {
    const std::string& name = store.info(id).name;
    EXPECT_LT(rel_err(store.grad(id).to_vector(), ref.load("grad." + name).to_vector()), c.grad_tol) << name;
  }
  // AdamW steps on the device follow torch's losses and gradient norms. Adam's update amplifies
  // rounding differences, so step losses get the CPU test's 2e-5 at least.
  AdamWConfig cfg;
  cfg.weight_decay = meta["adamw"]["weight_decay"];
  AdamWOptimizer opt(model->params(), cfg);
  const auto& losses = meta["adamw_losses"];
  const auto& norms = meta["grad_norms"];
  const double step_tol = std::max(c.loss_tol, 2e-5);
  for (size_t step = 0; step < losses.size(); ++step) {
    model->params().zero_grads();
    model->forward(tokens);
    const LossSum s = model->backward(targets, ignore, 1.f / float(kept));
    EXPECT_NEAR(s.sum / double(s.count), double(losses[step]), step_tol * double(losses[step])) << step;
    if (step + 1 == losses.size()) break;
    const double norm = opt.grad_norm();
    EXPECT_NEAR(norm, double(norms[step]), c.grad_tol * double(norms[step])) << "grad norm, step " << step;
    opt.step(meta["adamw"]["lr"], clip_scale(norm, meta["clip"]));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelCuda,
                         ::testing::Values(Case{"gpt2_odd", DType::F32, 1e-4, 1e-5, 1e-3},
                                           Case{"gpt2_tiny", DType::F32, 1e-4, 1e-5, 1e-3},
                                           Case{"llama_gqa", DType::F32, 1e-4, 1e-5, 1e-3},
                                           Case{"qwen2_gqa", DType::F32, 1e-4, 1e-5, 1e-3},
                                           Case{"gpt2_odd", DType::BF16, 3e-2, 1e-2, 1e-1},
                                           Case{"gpt2_tiny", DType::BF16, 3e-2, 1e-2, 1e-1},
                                           Case{"llama_gqa", DType::BF16, 3e-2, 1e-2, 1e-1},
                                           Case{"qwen2_gqa", DType::BF16, 3e-2, 1e-2, 1e-1}));

}  // namespace
