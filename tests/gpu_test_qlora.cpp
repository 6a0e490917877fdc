// QLoRA and LoRA dropout on CUDA against the CPU backend: a small random Llama (written as an HF
// directory) with its projections quantized to Q4_1 at load, random adapters, dropout armed with the
// same rng stream: logits, loss and adapter gradients on CUDA (fp32 compute) match the CPU's; the
// GGUF "keep" path stores F32 projections as bf16 on CUDA and still matches transformers' logits.
#include <gtest/gtest.h>

#include <filesystem>

#include "models/io/safetensors.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/llama_gguf.h"
#include "runtime/device_memory.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::randn;
using temper::test::rel_err;

namespace {

namespace fs = std::filesystem;

std::string write_random_llama() {
  LlamaConfig c;
  c.model_type = "qwen2";
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.head_dim = 16;
  c.hidden = 64;
  c.intermediate = 96;
  c.vocab_size = 101;
  c.max_positions = 64;
  c.qkv_bias = true;
  LlamaModel model(c, Device::Cpu, DType::F32);
  const ParameterStore& s = model.base_params();
  for (int id = 0; id < s.size(); ++id) s.master(id).copy_from(randn(s.info(id).shape, 300 + uint64_t(id), 0.2f));
  const std::string dir = (fs::temp_directory_path() / "temper_gpu_qlora").string();
  save_llama(model, dir);
  return dir;
}

LoraOptions qlora_options() {
  LoraOptions o;
  o.r = 4;
  o.alpha = 8.f;
  o.modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  o.dropout = 0.2f;
  o.base_quant = BaseQuant::Quantize;
  o.base_quant_type = GgmlType::Q4_1;
  return o;
}

struct StepResult {
  std::vector<float> logits, grads;
  double loss = 0;
};

StepResult train_step(LlamaModel& m, const Tensor& tokens, const Tensor& targets) {
  const ParameterStore& a = m.params();
  for (int id = 0; id < a.size(); ++id) a.master(id).copy_from(randn(a.info(id).shape, 9 + uint64_t(id), 0.1f));
  a.sync_compute_from_master();
  a.zero_grads();
  m.set_rng_stream(5);
  StepResult r;
  r.logits = m.forward(tokens).to_host_f32().to_vector();
  const LossSum ls = m.backward(targets, -100, 1.f / float(targets.numel()));
  r.loss = ls.sum / double(ls.count);
  r.grads = a.grads_flat().to_host_f32().to_vector();
  return r;
}

TEST(GpuQlora, QuantizedBaseWithDropoutMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = write_random_llama();
  auto cpu = load_llama(dir, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, qlora_options());
  auto gpu = load_llama(dir, Device::Cuda, DType::F32, 1, MasterCopy::AliasWhenF32, qlora_options());
  EXPECT_EQ(gpu->quantized_base()->nbytes(), cpu->quantized_base()->nbytes());
  const Tensor tokens = Tensor::from_i32({5, 9, 100, 7, 1, 3, 42, 17, 0, 64, 8, 2}, {2, 6});
  const Tensor targets = Tensor::from_i32({9, 100, 7, 1, 3, 5, 17, 0, 64, 8, 2, 99}, {2, 6});
  const StepResult c = train_step(*cpu, tokens, targets), g = train_step(*gpu, tokens, targets);
  EXPECT_LT(rel_err(g.logits, c.logits), 1e-4);
  EXPECT_NEAR(g.loss, c.loss, 1e-4 * c.loss);
  EXPECT_LT(rel_err(g.grads, c.grads), 1e-3);
  fs::remove_all(dir);
}

TEST(GpuQlora, GgufKeepOfF32ProjectionsIsBf16OnCudaAndMatchesTransformers) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  LoraOptions keep;
  keep.r = 2;
  keep.base_quant = BaseQuant::KeepFileTypes;
  auto model = load_llama_gguf(fixture("llama_bias_gguf/model.gguf"), Device::Cuda, DType::BF16, 1,
                               MasterCopy::AliasWhenF32, keep);
  EXPECT_EQ(model->quantized_base()->weight(0).type, GgmlType::BF16);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("llama_bias_gguf/expected.safetensors"));
  const std::vector<float> logits = model->forward(ref.load("tokens", DType::I32)).to_host_f32().to_vector();
  EXPECT_LT(rel_err(logits, ref.load("logits").to_vector()), 3e-2);  // bf16 weights and activations
}

}  // namespace
