// LoRA against HF PEFT (tools/make_lora_fixture.py: r 4, alpha 8, all seven projections, random A
// and B on the llama_gqa fixture): loading PEFT's adapter gives PEFT's logits, loss and adapter
// gradients; the base stays frozen; our saved adapter reloads identically; a LoRA step learns.
#include <gtest/gtest.h>

#include <filesystem>

#include "models/io/safetensors.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/lora_adapter.h"
#include "runtime/train/adamw_optimizer.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

std::unique_ptr<LlamaModel> peft_model() {
  const LoraOptions lora = lora_options_from_peft(fixture("llama_gqa_lora"));
  auto model = load_llama(fixture("llama_gqa"), Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, lora);
  load_peft_adapter(*model, fixture("llama_gqa_lora"));
  return model;
}

TEST(LoraPeft, OptionsFromAdapterConfig) {
  const LoraOptions o = lora_options_from_peft(fixture("llama_gqa_lora"));
  EXPECT_EQ(o.r, 4);
  EXPECT_FLOAT_EQ(o.alpha, 8.f);
  EXPECT_EQ(o.modules.size(), 7u);
}

TEST(LoraPeft, LogitsLossAndAdapterGradientsMatchPeft) {
  auto model = peft_model();
  const SafetensorsFile ref = SafetensorsFile::open(fixture("llama_gqa_lora/reference.safetensors"));
  const Tensor tokens = ref.load("tokens", DType::I32), targets = ref.load("targets", DType::I32);
  EXPECT_LT(rel_err(model->forward(tokens).to_vector(), ref.load("logits").to_vector()), 1e-5);
  int64_t kept = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) kept += targets.data<int32_t>()[i] != -100;
  model->params().zero_grads();
  const LossSum ls = model->backward(targets, -100, 1.f / float(kept));
  const double want = ref.load("loss").to_vector()[0];
  EXPECT_NEAR(ls.sum / double(ls.count), want, 1e-5 * want);
  const ParameterStore& adapters = model->params();
  EXPECT_EQ(adapters.size(), 28);
  for (int id = 0; id < adapters.size(); ++id) {
    const std::string& name = adapters.info(id).name;
    EXPECT_LT(rel_err(adapters.grad(id).to_vector(), ref.load("grad.base_model.model." + name).to_vector()), 1e-4)
        << name;
  }
  EXPECT_FALSE(model->base_params().trainable());
}

TEST(LoraPeft, SavedAdapterReloadsIdentically) {
  auto model = peft_model();
  const std::string dir = (std::filesystem::temp_directory_path() / "temper_lora_save").string();
  model->save_pretrained(dir);
  EXPECT_TRUE(std::filesystem::exists(dir + "/adapter_config.json"));
  auto again = load_llama(fixture("llama_gqa"), Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32,
                          lora_options_from_peft(dir));
  load_peft_adapter(*again, dir);
  const Tensor tokens = Tensor::from_i32({5, 9, 100, 7}, {1, 4});
  EXPECT_EQ(model->forward(tokens).to_vector(), again->forward(tokens).to_vector());
  std::filesystem::remove_all(dir);
}

TEST(LoraPeft, FreshAdaptersStartAtTheBaseAndTrainOnlyAdapters) {
  LoraOptions lora;
  lora.r = 2;
  lora.modules = {"q_proj", "v_proj", "down_proj"};
  auto base = load_llama(fixture("llama_gqa"), Device::Cpu, DType::F32);
  auto model = load_llama(fixture("llama_gqa"), Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, lora);
  const Tensor tokens = Tensor::from_i32({5, 9, 100, 7, 1, 3}, {1, 6});
  EXPECT_EQ(base->forward(tokens).to_vector(), model->forward(tokens).to_vector());  // B = 0
  const std::vector<float> base_weights = model->base_params().master_flat().to_vector();
  AdamWOptimizer opt(model->params(), AdamWConfig{});
  const Tensor targets = Tensor::from_i32({9, 100, 7, 1, 3, 5}, {1, 6});
  double first = 0, last = 0;
  for (int step = 0; step < 5; ++step) {
    model->params().zero_grads();
    model->forward(tokens);
    last = model->backward(targets, -100, 1.f / 6.f).sum / 6.0;
    if (step == 0) first = last;
    opt.step(1e-2f, 1.f);
  }
  EXPECT_LT(last, first);
  EXPECT_EQ(model->base_params().master_flat().to_vector(), base_weights);
  EXPECT_EQ(model->params().numel(), 2 * (2 * 60 + 2 * 60) + 2 * (2 * 60 + 2 * 20) + 2 * (2 * 100 + 60 * 2));
}

// Merging folds the adapters into the base: the merged plain model gives the adapted model's logits.
TEST(LoraPeft, MergedBaseMatchesTheAdaptedModel) {
  auto model = peft_model();
  const Tensor tokens = Tensor::from_i32({5, 9, 100, 7, 42}, {1, 5});
  const std::vector<float> adapted = model->forward(tokens).to_vector();
  merge_lora_into_base(*model);
  const std::string dir = (std::filesystem::temp_directory_path() / "temper_lora_merged").string();
  save_llama(*model, dir);
  auto merged = load_llama(dir, Device::Cpu, DType::F32);
  EXPECT_LT(rel_err(merged->forward(tokens).to_vector(), adapted), 1e-5);
  std::filesystem::remove_all(dir);
}

}  // namespace
