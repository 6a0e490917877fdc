// The real SmolLM2-135M-Instruct GGUF (fetched by tools/fetch_smollm2.sh into .cache/smollm2/, or
// TEMPER_SMOLLM2_GGUF): architecture and tokenizer metadata, tensor types, and the dequantization of
// every tensor checked against the `gguf` Python package: a bit-exact hash of each whole tensor plus
// the first two and the last row of one tensor of each type
// (tests/fixtures/gguf/smollm2_expected.safetensors, from tools/make_gguf_fixture.py --smollm2).
// Without the file every test fails, saying how to fetch it.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "models/io/gguf.h"
#include "models/io/safetensors.h"
#include "test_util.h"

namespace temper {
namespace {

std::string model_path() {
  if (const char* env = std::getenv("TEMPER_SMOLLM2_GGUF")) return env;
  return std::string(TEMPER_SOURCE_DIR) + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// sum_i bits(x_i) * (2 i + 1) mod 2^64, as tools/make_gguf_fixture.py computes it.
uint64_t tensor_hash(const Tensor& t) {
  const float* x = t.data<float>();
  uint64_t h = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    h += static_cast<uint64_t>(bits) * (2 * static_cast<uint64_t>(i) + 1);
  }
  return h;
}

class SmolLM2Gguf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(model_path())) file_ = std::make_unique<GgufFile>(GgufFile::open(model_path()));
  }
  static void TearDownTestSuite() { file_.reset(); }
  void SetUp() override {
    if (!file_)
      FAIL() << "SmolLM2 GGUF not found at " << model_path()
             << ": run tools/fetch_smollm2.sh (or set TEMPER_SMOLLM2_GGUF to the file)";
  }
  static std::unique_ptr<GgufFile> file_;
};
std::unique_ptr<GgufFile> SmolLM2Gguf::file_;

TEST_F(SmolLM2Gguf, ArchitectureMetadata) {
  const GgufMetadata& m = file_->metadata();
  EXPECT_EQ(file_->version(), 3u);
  EXPECT_EQ(file_->alignment(), 32u);
  EXPECT_EQ(m.get_string("general.architecture"), "llama");
  EXPECT_EQ(m.get_int("llama.block_count"), 30);
  EXPECT_EQ(m.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(m.get_int("llama.feed_forward_length"), 1536);
  EXPECT_EQ(m.get_int("llama.attention.head_count"), 9);
  EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 3);
  EXPECT_EQ(m.get_int("llama.vocab_size"), 49152);
  EXPECT_EQ(m.get_int("llama.context_length"), 8192);
  EXPECT_EQ(m.get_int("llama.rope.dimension_count"), 64);
  EXPECT_EQ(m.get_float("llama.rope.freq_base"), 100000.0);
  EXPECT_EQ(m.get_float("llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-5f));
  EXPECT_EQ(m.get_int("general.file_type"), 3);  // LLAMA_FTYPE_MOSTLY_Q4_1
}

TEST_F(SmolLM2Gguf, TokenizerMetadata) {
  const GgufMetadata& m = file_->metadata();
  EXPECT_EQ(m.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(m.get_string("tokenizer.ggml.pre"), "smollm");
  const std::vector<std::string> tokens = m.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 49152u);
  EXPECT_EQ(tokens[1], "<|im_start|>");
  EXPECT_EQ(tokens[2], "<|im_end|>");
  EXPECT_EQ(m.get_string_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_EQ(m.get_int_array("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(m.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(m.get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_FALSE(m.get_bool("tokenizer.ggml.add_bos_token"));
  EXPECT_NE(m.get_string("tokenizer.chat_template").find("<|im_start|>"), std::string::npos);
}

TEST_F(SmolLM2Gguf, TensorTypesAndShapes) {
  std::map<std::string, int> count;
  for (const std::string& name : file_->names()) ++count[file_->info(name).type_name()];
  std::string summary;
  for (const auto& [type, n] : count) summary += fmt::format(" {} x{}", type, n);
  std::cout << "SmolLM2 tensor types:" << summary << "\n";
  EXPECT_EQ(file_->names().size(), 272u);
  EXPECT_EQ(count, (std::map<std::string, int>{{"F32", 61}, {"Q4_1", 210}, {"Q8_0", 1}}));
  const GgufTensorInfo& embd = file_->info("token_embd.weight");
  EXPECT_STREQ(embd.type_name(), "Q8_0");
  EXPECT_EQ(embd.dims, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(embd.shape(), (Shape{49152, 576}));
  EXPECT_EQ(file_->info("blk.0.ffn_down.weight").shape(), (Shape{576, 1536}));
  EXPECT_EQ(file_->info("blk.0.attn_k.weight").shape(), (Shape{192, 576}));
  EXPECT_EQ(file_->info("output_norm.weight").shape(), (Shape{576}));
  EXPECT_FALSE(file_->contains("output.weight"));  // tied embeddings
}

// Rows 0, 1 and the last row of one tensor per type (two Q4_1 ones), bit for bit.
TEST_F(SmolLM2Gguf, RowsMatchGgufPackage) {
  const SafetensorsFile expected = SafetensorsFile::open(test::fixture("gguf/smollm2_expected.safetensors"));
  ASSERT_EQ(expected.names().size(), 5u);
  for (const std::string& name : expected.names()) {
    SCOPED_TRACE(name);
    const Tensor want = expected.load(name);
    const Tensor got = file_->load_f32(name);
    const int64_t row = got.shape().back(), rows = got.numel() / row;
    const std::vector<int64_t> picks = rows > 1 ? std::vector<int64_t>{0, 1, rows - 1} : std::vector<int64_t>{0};
    ASSERT_EQ(want.numel(), static_cast<int64_t>(picks.size()) * row);
    for (size_t k = 0; k < picks.size(); ++k)
      for (int64_t j = 0; j < row; ++j)
        ASSERT_EQ(got.data<float>()[picks[k] * row + j], want.data<float>()[static_cast<int64_t>(k) * row + j])
            << "row " << picks[k] << " column " << j;
  }
}

// Every tensor dequantized: its hash (exact) and sums (double, summation order differs) as computed by
// the gguf package. Prints the time the whole file takes.
TEST_F(SmolLM2Gguf, EveryTensorMatchesGgufPackage) {
  const SafetensorsFile expected = SafetensorsFile::open(test::fixture("gguf/smollm2_expected.safetensors"));
  const std::map<std::string, std::string>& sums = expected.metadata();
  ASSERT_EQ(sums.size(), 272u);
  double seconds = 0;
  int64_t elements = 0;
  for (const std::string& name : file_->names()) {
    SCOPED_TRACE(name);
    const auto start = std::chrono::steady_clock::now();
    const Tensor t = file_->load_f32(name);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    elements += t.numel();
    ASSERT_TRUE(sums.count(name));
    std::istringstream in(sums.at(name));
    std::string hash_hex, sum_text, sumsq_text;
    in >> hash_hex >> sum_text >> sumsq_text;
    EXPECT_EQ(tensor_hash(t), std::stoull(hash_hex, nullptr, 16));
    double sum = 0, sumsq = 0;
    for (const float v : t.to_vector()) {
      sum += v;
      sumsq += static_cast<double>(v) * v;
    }
    EXPECT_NEAR(sum, std::stod(sum_text), 1e-9 * std::max(1.0, std::sqrt(sumsq)));
    EXPECT_NEAR(sumsq, std::stod(sumsq_text), 1e-9 * std::max(1.0, sumsq));
  }
  std::cout << fmt::format("dequantized {} tensors ({} elements) in {:.3f} s\n", file_->names().size(), elements,
                           seconds);
}

}  // namespace
}  // namespace temper
