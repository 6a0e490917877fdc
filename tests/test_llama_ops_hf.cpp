// The Llama-family ops against Hugging Face transformers (fp32): LlamaRMSNorm, rotary tables from
// LlamaRotaryEmbedding (default, linear, llama3) and apply_rotary_pos_emb, SiLU(gate) * up, and
// eager grouped-query attention with repeat_kv. Fixture: tools/make_llama_ops_fixture.py.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/rope_tables.h"
#include "kernels/swiglu.h"
#include "models/io/safetensors.h"
#include "tests/test_util.h"

using namespace temper;
using temper::test::fixture;
using temper::test::rel_err;

namespace {

constexpr double kTol = 1e-5;  // max |ours - HF| relative to max |HF|

class LlamaOpsHf : public ::testing::Test {
 protected:
  SafetensorsFile file = SafetensorsFile::open(fixture("llama_ops/llama_ops.safetensors"));
  nlohmann::json meta_json = nlohmann::json::parse(std::ifstream(fixture("llama_ops/meta.json")));
  Tensor load(const std::string& name) const { return file.load(name); }
  double meta(const std::string& key) const { return meta_json.at(key).get<double>(); }
  // Our result against the fixture's tensor `name`.
  void expect_matches(const Tensor& got, const std::string& name, double tol = kTol) const {
    const Tensor want = load(name);
    ASSERT_EQ(got.numel(), want.numel()) << name;
    EXPECT_LT(rel_err(got.to_vector(), want.to_vector()), tol) << name;
  }
  ops::RopeScaling scaling(const std::string& kind) const {
    ops::RopeScaling s;
    s.kind = ops::rope_scaling_kind(kind);
    if (s.kind != ops::RopeScalingKind::None) s.factor = meta("rope." + kind + ".factor");
    if (s.kind == ops::RopeScalingKind::Llama3) {
      s.low_freq_factor = meta("rope." + kind + ".low_freq_factor");
      s.high_freq_factor = meta("rope." + kind + ".high_freq_factor");
      s.original_max_position_embeddings = int64_t(meta("rope." + kind + ".original_max_position_embeddings"));
    }
    return s;
  }
};

const char* const kRopeKinds[] = {"default", "linear", "llama3"};

TEST_F(LlamaOpsHf, RmsNormMatchesLlamaRmsNorm) {
  const Tensor x = load("rmsnorm.x"), w = load("rmsnorm.weight"), dout = load("rmsnorm.dout");
  const int64_t n = x.numel() / x.dim(-1);
  Tensor out = Tensor::empty(x.shape(), DType::F32), rstd = Tensor::empty({n}, DType::F32);
  ops::rmsnorm_forward(out, rstd, x, w, float(meta("rmsnorm.eps")));
  expect_matches(out, "rmsnorm.out");
  Tensor dx = Tensor::empty(x.shape(), DType::F32), dw = Tensor::zeros(w.shape(), DType::F32);
  ops::rmsnorm_backward(dx, dw, dout, x, w, rstd);
  expect_matches(dx, "rmsnorm.dx");
  expect_matches(dw, "rmsnorm.dweight");
}

TEST_F(LlamaOpsHf, RopeInvFreqMatchesLlamaRotaryEmbedding) {
  // transformers' f32 pow is not always correctly rounded (vectorised path): allow ~2 ulp.
  for (const char* kind : kRopeKinds) {
    const double theta = meta("rope.theta");
    expect_matches(Tensor::from_f32(ops::rope_inv_freq(10, theta, scaling(kind)), {5}),
                   std::string("rope.") + kind + ".inv_freq", 2.5e-7);
    expect_matches(Tensor::from_f32(ops::rope_inv_freq(64, theta, scaling(kind)), {32}),
                   std::string("rope.") + kind + ".inv_freq64", 2.5e-7);
  }
}

// HF's tables are [T, HS] with both halves equal to ours [T, HS/2].
void expect_table_halves(const Tensor& ours, const Tensor& hf, const std::vector<int64_t>& rows,
                         const std::string& what) {
  const int64_t half = ours.dim(1);
  ASSERT_EQ(hf.dim(1), 2 * half) << what;
  std::vector<float> got, want;
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t i = 0; i < 2 * half; ++i) {
      got.push_back(ours.data<float>()[rows[r] * half + i % half]);
      want.push_back(hf.data<float>()[int64_t(r) * 2 * half + i]);
    }
  EXPECT_LT(rel_err(got, want), kTol) << what;
}

TEST_F(LlamaOpsHf, RopeTablesMatchNearAndFarPositions) {
  const std::vector<int64_t> far = meta_json.at("rope.far_positions").get<std::vector<int64_t>>();
  ASSERT_FALSE(far.empty());
  for (const std::string kind : kRopeKinds) {
    const std::vector<float> inv = ops::rope_inv_freq(10, meta("rope.theta"), scaling(kind));
    const Tensor hf_cos = load("rope." + kind + ".cos");
    const int64_t t = hf_cos.dim(0);
    std::vector<int64_t> near;
    for (int64_t i = 0; i < t; ++i) near.push_back(i);
    const ops::RopeTables tab = ops::rope_tables(inv, 8192);
    expect_table_halves(tab.cos, hf_cos, near, kind + " cos");
    expect_table_halves(tab.sin, load("rope." + kind + ".sin"), near, kind + " sin");
    expect_table_halves(tab.cos, load("rope." + kind + ".cos_far"), far, kind + " cos far");
    expect_table_halves(tab.sin, load("rope." + kind + ".sin_far"), far, kind + " sin far");
  }
}

TEST_F(LlamaOpsHf, RopeMatchesApplyRotaryPosEmb) {
  for (const std::string kind : kRopeKinds) {
    const Tensor q = load("rope.q"), k = load("rope.k");
    const ops::RopeTables tab =
        ops::rope_tables(ops::rope_inv_freq(q.dim(3), meta("rope.theta"), scaling(kind)), q.dim(1));
    for (const std::string name : {"q", "k"}) {
      const Tensor x = load("rope." + name), d = load("rope.d" + name + "_out");
      ops::rope_forward(x, tab.cos, tab.sin);
      expect_matches(x, "rope." + kind + "." + name + "_out");
      ops::rope_backward(d, tab.cos, tab.sin);
      expect_matches(d, "rope." + kind + ".d" + name);
    }
  }
}

TEST_F(LlamaOpsHf, SwiGluMatchesSiluTimesUp) {
  const Tensor gate = load("swiglu.gate"), up = load("swiglu.up"), dout = load("swiglu.dout");
  Tensor out = Tensor::empty(gate.shape(), DType::F32);
  ops::swiglu_forward(out, gate, up);
  expect_matches(out, "swiglu.out");
  Tensor dgate = Tensor::empty(gate.shape(), DType::F32), dup = Tensor::empty(gate.shape(), DType::F32);
  ops::swiglu_backward(dgate, dup, dout, gate, up);
  expect_matches(dgate, "swiglu.dgate");
  expect_matches(dup, "swiglu.dup");
}

TEST_F(LlamaOpsHf, GqaAttentionMatchesEagerAttentionForward) {
  for (const std::string name : {"gqa", "mqa"}) {
    const std::string p = "attn." + name + ".";
    const int nh = int(meta(p + "n_head")), nkv = int(meta(p + "n_kv_head"));
    const Tensor q = load(p + "q"), k = load(p + "k"), v = load(p + "v"), dout = load(p + "dout");
    Tensor out = Tensor::empty(q.shape(), DType::F32);
    Tensor att = Tensor::empty({q.dim(0), nh, q.dim(1), q.dim(1)}, DType::F32);
    ops::attention_forward_gqa(out, att, q, k, v, nh, nkv);
    expect_matches(out, p + "out");
    expect_matches(att, p + "att");
    Tensor dq = Tensor::empty(q.shape(), DType::F32), dk = Tensor::empty(k.shape(), DType::F32);
    Tensor dv = Tensor::empty(v.shape(), DType::F32);
    ops::attention_backward_gqa(dq, dk, dv, dout, q, k, v, att, nh, nkv);
    expect_matches(dq, p + "dq");
    expect_matches(dk, p + "dk");
    expect_matches(dv, p + "dv");
  }
}

}  // namespace
