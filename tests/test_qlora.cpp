// QLoRA and LoRA dropout on the CPU backend.
// - The quantized matmuls equal the ordinary ones on the dequantized weight.
// - A Llama whose projections are kept quantized (QLoRA) gives the logits, loss and adapter
//   gradients of the same model loaded with those weights dequantized (bit-identical on CPU), for
//   an HF checkpoint quantized at load and for a GGUF file's own Q4_1 blocks (SmolLM2, when fetched).
// - LoRA dropout: training forwards drop, evaluation does not; the adapter gradients with dropout
//   match finite differences of the loss under the same masks.
#include <gtest/gtest.h>

#include <filesystem>

#include "kernels/quantized_matmul.h"
#include "models/llama/llama_checkpoint.h"
#include "models/llama/llama_gguf.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::randn;
using temper::test::rel_err;

namespace {

namespace fs = std::filesystem;

const char* const kProjections[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

bool is_projection(const std::string& name) {
  for (const char* p : kProjections)
    if (name.find(std::string(p) + ".weight") != std::string::npos) return true;
  return false;
}

LlamaConfig small_config() {
  LlamaConfig c;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.head_dim = 16;
  c.hidden = 64;
  c.intermediate = 96;
  c.vocab_size = 101;
  c.max_positions = 64;
  c.model_type = "qwen2";
  c.qkv_bias = true;  // biases stay unquantized next to quantized weights
  return c;
}

// Row-wise quantize -> dequantize of a CPU f32 [out, in] tensor.
Tensor round_trip(const Tensor& w, GgmlType type) {
  QuantizedWeight probe;
  probe.type = type;
  probe.in = w.dim(1);
  std::vector<uint8_t> row(static_cast<size_t>(probe.row_bytes()));
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  for (int64_t o = 0; o < w.dim(0); ++o) {
    quantize_row(type, w.data<float>() + o * w.dim(1), w.dim(1), row.data());
    dequantize_row(type, row.data(), w.dim(1), out.data<float>() + o * w.dim(1));
  }
  return out;
}

// A random small Llama saved as an HF directory; with `dequantized_from`, its projections are
// replaced by their quantize -> dequantize round trip.
std::string write_random_llama(const std::string& name, GgmlType dequantized_from = GgmlType::F32) {
  LlamaModel model(small_config(), Device::Cpu, DType::F32);
  const ParameterStore& s = model.base_params();
  for (int id = 0; id < s.size(); ++id) {
    Tensor w = randn(s.info(id).shape, 100 + static_cast<uint64_t>(id), 0.2f);
    if (dequantized_from != GgmlType::F32 && is_projection(s.info(id).name)) w = round_trip(w, dequantized_from);
    s.master(id).copy_from(w);
  }
  const std::string dir = (fs::temp_directory_path() / name).string();
  save_llama(model, dir);
  return dir;
}

LoraOptions all_targets(int64_t r) {
  LoraOptions lora;
  lora.r = r;
  lora.alpha = 8.f;
  lora.modules = {kProjections, kProjections + 7};
  lora.seed = 3;
  return lora;
}

// Non-zero lora_B (fresh adapters have B = 0), the same in every model built with the same options.
void randomize_adapters(LlamaModel& m) {
  const ParameterStore& a = m.params();
  for (int id = 0; id < a.size(); ++id) a.master(id).copy_from(randn(a.info(id).shape, 7 + static_cast<uint64_t>(id), 0.1f));
  a.sync_compute_from_master();
}

struct StepRun {
  std::vector<float> logits, grads;
  double loss = 0;
};

StepRun run_step(LlamaModel& m, const Tensor& tokens, const Tensor& targets) {
  StepRun r;
  m.params().zero_grads();
  r.logits = m.forward(tokens).to_vector();
  const LossSum ls = m.backward(targets, -100, 1.f / static_cast<float>(targets.numel()));
  r.loss = ls.sum / static_cast<double>(ls.count);
  r.grads = m.params().grads_flat().to_vector();
  return r;
}

const Tensor kTokens = Tensor::from_i32({5, 9, 100, 7, 1, 3, 42, 17, 0, 64, 8, 2}, {2, 6});
const Tensor kTargets = Tensor::from_i32({9, 100, 7, 1, 3, 5, 17, 0, 64, 8, 2, 99}, {2, 6});

TEST(QuantizedMatmul, EqualsMatmulOnTheDequantizedWeight) {
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q5_1}) {
    const Tensor w = randn({37, 64}, 1);
    std::vector<uint8_t> bytes(static_cast<size_t>(37 * 64 / 32 * ggml_type_traits(type).type_size));
    for (int64_t o = 0; o < 37; ++o)
      quantize_row(type, w.data<float>() + o * 64, 64, bytes.data() + o * (bytes.size() / 37));
    const QuantizedWeight q = make_quantized_weight(type, 37, 64, bytes, Device::Cpu);
    Tensor dense = Tensor::empty({37, 64}, DType::F32);
    ops::dequantize(dense, q);
    EXPECT_EQ(dense.to_vector(), round_trip(w, type).to_vector()) << ggml_type_name(type);

    const Tensor x = randn({3, 5, 64}, 2), bias = randn({37}, 3), dy = randn({15, 37}, 4);
    Tensor y = randn({3, 5, 37}, 5), want = y.clone();
    ops::quantized_matmul(y, x, q, &bias, 1.f);
    ops::matmul(want, x, ops::Trans::No, dense, ops::Trans::Yes, &bias, 1.f);
    EXPECT_EQ(y.to_vector(), want.to_vector());
    Tensor dx = Tensor::empty({15, 64}, DType::F32), dx_want = Tensor::empty({15, 64}, DType::F32);
    ops::quantized_matmul_dx(dx, dy, q);
    ops::matmul(dx_want, dy, ops::Trans::No, dense, ops::Trans::No);
    EXPECT_EQ(dx.to_vector(), dx_want.to_vector());
  }
}

TEST(QuantizedMatmul, RejectsBadSizes) {
  EXPECT_THROW(make_quantized_weight(GgmlType::Q4_0, 2, 48, std::vector<uint8_t>(100), Device::Cpu), Error);
  EXPECT_THROW(make_quantized_weight(GgmlType::Q4_0, 2, 64, std::vector<uint8_t>(71), Device::Cpu), Error);
}

// QLoRA (projections quantized to Q4_1 at load) == LoRA over the round-tripped weights.
TEST(Qlora, HfCheckpointQuantizedAtLoadEqualsLoraOnTheDequantizedBase) {
  const std::string plain = write_random_llama("temper_qlora_plain");
  const std::string rounded = write_random_llama("temper_qlora_rounded", GgmlType::Q4_1);
  LoraOptions q = all_targets(4);
  q.base_quant = BaseQuant::Quantize;
  q.base_quant_type = GgmlType::Q4_1;
  auto qlora = load_llama(plain, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, q);
  auto lora = load_llama(rounded, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, all_targets(4));
  ASSERT_NE(qlora->quantized_base(), nullptr);
  EXPECT_EQ(qlora->quantized_base()->size(), 2 * 7);
  const int64_t projections = 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 96);
  EXPECT_EQ(qlora->base_params().numel(), small_config().num_parameters() - projections);
  randomize_adapters(*qlora);
  randomize_adapters(*lora);
  const StepRun a = run_step(*qlora, kTokens, kTargets), b = run_step(*lora, kTokens, kTargets);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.grads, b.grads);
  // Q4_1 keeps 20 bytes per 32 weights: 5 bits a weight instead of 32.
  EXPECT_EQ(qlora->quantized_base()->nbytes(), static_cast<size_t>(projections / 32 * 20));
  fs::remove_all(plain);
  fs::remove_all(rounded);
}

TEST(Qlora, NeedsAdaptersAndAQuantizedType) {
  const std::string plain = write_random_llama("temper_qlora_bad");
  LoraOptions none;
  none.base_quant = BaseQuant::Quantize;
  EXPECT_THROW(load_llama(plain, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, none), Error);
  LoraOptions keep = all_targets(2);
  keep.base_quant = BaseQuant::KeepFileTypes;  // an HF checkpoint has no block types to keep
  EXPECT_THROW(load_llama(plain, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, keep), InputError);
  fs::remove_all(plain);
}

std::string smollm2_path() {
  const char* env = std::getenv("TEMPER_SMOLLM2_GGUF");
  return env ? env : std::string(TEMPER_SOURCE_DIR) + "/.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// The file's own Q4_1 blocks (q/k rows un-permuted as whole quantized rows) give exactly the logits
// of the model dequantized at load.
TEST(Qlora, SmolLM2KeepsItsQ4_1BlocksAndMatchesTheDequantizedModel) {
  if (!fs::exists(smollm2_path())) GTEST_SKIP() << "SmolLM2 not fetched (tools/fetch_smollm2.sh)";
  LoraOptions keep = all_targets(4);
  keep.base_quant = BaseQuant::KeepFileTypes;
  auto qlora = load_llama_gguf(smollm2_path(), Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, keep);
  auto lora = load_llama_gguf(smollm2_path(), Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, all_targets(4));
  EXPECT_EQ(qlora->quantized_base()->size(), 30 * 7);
  EXPECT_EQ(qlora->quantized_base()->weight(0).type, GgmlType::Q4_1);
  randomize_adapters(*qlora);
  randomize_adapters(*lora);
  const Tensor tokens = Tensor::from_i32({1, 504, 3458, 314, 253, 1789, 28, 9, 260}, {1, 9});
  const Tensor targets = Tensor::from_i32({504, 3458, 314, 253, 1789, 28, 9, 260, 2}, {1, 9});
  const StepRun a = run_step(*qlora, tokens, targets), b = run_step(*lora, tokens, targets);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.grads, b.grads);
  // The quantized base is about a sixth of the f32 projections.
  const double f32_bytes = 4.0 * static_cast<double>(qlora->config().num_parameters() - qlora->base_params().numel());
  EXPECT_NEAR(static_cast<double>(qlora->quantized_base()->nbytes()) / f32_bytes, 20.0 / 128.0, 1e-9);
}

// Dropout on the adapters' inputs: the loss under fixed masks (a fixed rng stream) has the analytic
// adapter gradients; evaluation and unarmed forwards ignore dropout; another stream draws other masks.
TEST(LoraDropout, GradientsMatchFiniteDifferencesUnderFixedMasks) {
  const std::string plain = write_random_llama("temper_lora_dropout");
  LoraOptions lora = all_targets(2);
  lora.dropout = 0.3f;
  auto model = load_llama(plain, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, lora);
  auto no_dropout = load_llama(plain, Device::Cpu, DType::F32, 1, MasterCopy::AliasWhenF32, all_targets(2));
  randomize_adapters(*model);
  randomize_adapters(*no_dropout);
  const double n = static_cast<double>(kTargets.numel());
  EXPECT_EQ(model->evaluate(kTokens, kTargets, -100).sum, no_dropout->evaluate(kTokens, kTargets, -100).sum);
  model->set_rng_stream(11);
  const StepRun with = run_step(*model, kTokens, kTargets);
  EXPECT_NE(with.logits, no_dropout->forward(kTokens).to_vector());
  model->set_rng_stream(12);
  EXPECT_NE(with.logits, model->forward(kTokens).to_vector());
  model->set_rng_stream(11);
  EXPECT_EQ(with.logits, model->forward(kTokens).to_vector());  // same stream, same masks
  // A forward the trainer did not arm (generation) never drops.
  EXPECT_EQ(model->forward(kTokens).to_vector(), no_dropout->forward(kTokens).to_vector());

  const ParameterStore& a = model->params();
  const auto loss = [&] {
    model->set_rng_stream(11);
    model->forward(kTokens);
    const double l = model->backward(kTargets, -100, 0.f).sum / n;
    return l;
  };
  for (int id : {0, 1, a.size() - 2, a.size() - 1}) {  // the first and last layers' A and B
    const Tensor p = a.master(id);
    const int64_t step = std::max<int64_t>(1, p.numel() / 5);
    for (int64_t i = 0; i < p.numel(); i += step) {
      float& v = p.data<float>()[i];
      const float orig = v;
      v = orig + 1e-2f;
      const double lp = loss();
      v = orig - 1e-2f;
      const double lm = loss();
      v = orig;
      const double fd = (lp - lm) / 2e-2, an = with.grads[static_cast<size_t>(a.info(id).offset + i)];
      EXPECT_NEAR(an, fd, 2e-3 + 2e-2 * std::abs(fd)) << a.info(id).name << "[" << i << "]";
    }
  }
  fs::remove_all(plain);
}

}  // namespace
