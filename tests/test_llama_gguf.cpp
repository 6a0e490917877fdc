// A Llama with attention biases as llama.cpp's converter writes it (tools/make_llama_gguf_fixture.py:
// q/k weights and biases permuted for its rope, o_proj bias): loading it undoes both permutations and
// gives transformers' logits; QLoRA's "keep" path (projections stored as they are in the file, rows
// un-permuted as stored bytes) gives the same logits.
#include <gtest/gtest.h>

#include "models/io/safetensors.h"
#include "models/llama/llama_gguf.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

TEST(LlamaGguf, BiasedAttentionMatchesTransformers) {
  const SafetensorsFile ref = SafetensorsFile::open(fixture("llama_bias_gguf/expected.safetensors"));
  auto model = load_llama_gguf(fixture("llama_bias_gguf/model.gguf"), Device::Cpu, DType::F32);
  EXPECT_TRUE(model->config().qkv_bias);
  EXPECT_TRUE(model->config().o_bias);
  const Tensor tokens = ref.load("tokens", DType::I32);
  EXPECT_LT(rel_err(model->forward(tokens).to_vector(), ref.load("logits").to_vector()), 1e-5);
}

TEST(LlamaGguf, QloraKeepOfF32ProjectionsGivesTheSameLogits) {
  LoraOptions keep;
  keep.r = 2;
  keep.modules = {"q_proj", "k_proj"};
  keep.base_quant = BaseQuant::KeepFileTypes;
  auto qlora = load_llama_gguf(fixture("llama_bias_gguf/model.gguf"), Device::Cpu, DType::F32, 1,
                               MasterCopy::AliasWhenF32, keep);
  auto plain = load_llama_gguf(fixture("llama_bias_gguf/model.gguf"), Device::Cpu, DType::F32);
  ASSERT_NE(qlora->quantized_base(), nullptr);
  EXPECT_EQ(qlora->quantized_base()->size(), 2 * 7);
  EXPECT_EQ(qlora->quantized_base()->weight(0).type, GgmlType::F32);
  const Tensor tokens = Tensor::from_i32({5, 9, 100, 7, 1, 3}, {1, 6});
  EXPECT_EQ(qlora->forward(tokens).to_vector(), plain->forward(tokens).to_vector());
}

}  // namespace
