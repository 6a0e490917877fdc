// BERT sequence classification on CUDA against the CPU reference (and so against transformers, see
// test_bert_hf): the fixture's padded batch, fp32 (tight) and bf16 (loose), logits, loss, gradients.
#include <gtest/gtest.h>

#include "models/bert/bert_checkpoint.h"
#include "models/io/safetensors.h"
#include "runtime/device_memory.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

struct Step {
  std::vector<float> logits, grads;
  double loss = 0;
};

Step run(Device device, DType dtype) {
  auto model = load_bert_classifier(fixture("bert_cls"), device, dtype);
  const SafetensorsFile ref = SafetensorsFile::open(fixture("bert_cls/reference.safetensors"));
  model->set_class_weights(ref.load("weighted.class_weights").to_vector());  // exercises scale_rows
  const ClassifierInput in{ref.load("tokens", DType::I32), ref.load("token_types", DType::I32),
                           ref.load("lengths", DType::I32)};
  Step s;
  model->params().zero_grads();
  s.logits = model->forward(in).to_host_f32().to_vector();
  const LossSum ls = model->backward(ref.load("labels", DType::I32), 1.f / 3.f);
  s.loss = ls.sum / double(ls.count);
  s.grads = model->params().grads_flat().to_host_f32().to_vector();
  return s;
}

TEST(GpuBert, MatchesCpuInFp32AndBf16) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Step cpu = run(Device::Cpu, DType::F32);
  const Step f32 = run(Device::Cuda, DType::F32);
  EXPECT_LT(rel_err(f32.logits, cpu.logits), 1e-4);
  EXPECT_NEAR(f32.loss, cpu.loss, 1e-4 * cpu.loss);
  EXPECT_LT(rel_err(f32.grads, cpu.grads), 1e-3);
  const Step bf16 = run(Device::Cuda, DType::BF16);
  EXPECT_LT(rel_err(bf16.logits, cpu.logits), 5e-2);
  EXPECT_NEAR(bf16.loss, cpu.loss, 2e-2 * cpu.loss);
  EXPECT_LT(rel_err(bf16.grads, cpu.grads), 1e-1);
}

}  // namespace
