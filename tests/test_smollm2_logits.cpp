// The real SmolLM2-135M-Instruct GGUF (Q4_1/Q8_0/F32) loaded into the Llama model: logits for a
// fixed sentence match transformers' LlamaForCausalLM with the `gguf` package's dequantized weights
// (tools/make_smollm2_logits_fixture.py). Needs tools/fetch_smollm2.sh (the CI script runs it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "models/io/safetensors.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/llama_gguf.h"
#include "tests/test_util.h"

using namespace temper;

namespace {

std::string smollm2_path() {
  if (const char* env = std::getenv("TEMPER_SMOLLM2_GGUF")) return env;
  return std::string(TEMPER_SOURCE_DIR) + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

TEST(SmolLm2, ConfigFromGgufMetadata) {
  ASSERT_TRUE(std::filesystem::exists(smollm2_path())) << "run tools/fetch_smollm2.sh";
  const LlamaConfig c = llama_config_from_gguf(GgufFile::open(smollm2_path()));
  EXPECT_EQ(c.n_layer, 30);
  EXPECT_EQ(c.hidden, 576);
  EXPECT_EQ(c.n_head, 9);
  EXPECT_EQ(c.n_kv_head, 3);
  EXPECT_EQ(c.intermediate, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_DOUBLE_EQ(c.rope.theta, 100000.0);
  EXPECT_EQ(c.num_parameters(), 134515008);
}

TEST(SmolLm2, LogitsMatchTransformersOnDequantizedWeights) {
  ASSERT_TRUE(std::filesystem::exists(smollm2_path())) << "run tools/fetch_smollm2.sh";
  auto model = load_llama_gguf(smollm2_path(), Device::Cpu, DType::F32);
  const SafetensorsFile ref = SafetensorsFile::open(test::fixture("gguf/smollm2_logits.safetensors"));
  const Tensor tokens = ref.load("tokens", DType::I32);
  const int64_t stride = std::stoll(ref.metadata().at("stride")), t = tokens.dim(1), v = model->vocab_size();
  const std::vector<float> logits = model->forward(tokens).to_vector();
  std::vector<float> strided;
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = 0; j < v; j += stride) strided.push_back(logits[static_cast<size_t>(i * v + j)]);
  EXPECT_LT(test::rel_err(strided, ref.load("logits_strided").to_vector()), 1e-4);
  std::vector<int32_t> next(tokens.data<int32_t>() + 1, tokens.data<int32_t>() + t);
  next.push_back(-100);  // no target for the last position
  const LossSum ls = model->evaluate(tokens, Tensor::from_i32(next, {1, t}), -100);
  const double want = ref.load("loss").to_vector()[0];
  EXPECT_NEAR(ls.sum / double(ls.count), want, 1e-4 * want);
}

}  // namespace

namespace {

// Saved in HF layout, the GGUF model reloads from config.json + model.safetensors with the same logits.
TEST(SmolLm2, SavedInHfLayoutReloadsWithTheSameLogits) {
  ASSERT_TRUE(std::filesystem::exists(smollm2_path())) << "run tools/fetch_smollm2.sh";
  auto model = load_llama_gguf(smollm2_path(), Device::Cpu, DType::F32);
  const std::string dir = (std::filesystem::temp_directory_path() / "temper_smollm2_hf").string();
  model->save_pretrained(dir);
  auto again = load_llama(dir, Device::Cpu, DType::F32);
  const Tensor tokens = Tensor::from_i32({504, 3575, 282, 4649}, {1, 4});
  EXPECT_EQ(model->forward(tokens).to_vector(), again->forward(tokens).to_vector());
  EXPECT_EQ(again->config().rope.theta, 100000.0);
  std::filesystem::remove_all(dir);
}

}  // namespace
