// GGUF -> Llama-family model: config, names, dequantization, q/k un-permutation.
#include "models/llama/llama_gguf.h"

#include <cstring>
#include <set>

namespace temper {
namespace {

const char* const kLayerNames[][2] = {
    {"attn_norm.weight", "input_layernorm.weight"},    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},      {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},      {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},          {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},          {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},           {"ffn_down.weight", "mlp.down_proj.weight"},
};

int64_t positive(const GgufFile& f, const std::string& key) {
  const int64_t v = f.metadata().get_int(key);
  TEMPER_INPUT_CHECK(v > 0 && v < (int64_t(1) << 31), f.path(), key, "must be positive, got {}", v);
  return v;
}

// llama.cpp stores q/k rows of each head as interleaved pairs for its rope; transformers keeps the
// two halves apart: dst[h, p, j] = src[h, j, p] for p in {0, 1}, j < head_dim / 2.
Tensor unpermute_rows(const Tensor& w, int64_t n_head) {
  const int64_t rows = w.dim(0), cols = w.dim(1), hd = rows / n_head, half = hd / 2;
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t p = 0; p < 2; ++p) {
        const float* src = w.data<float>() + (h * hd + j * 2 + p) * cols;
        float* dst = out.data<float>() + (h * hd + p * half + j) * cols;
        std::memcpy(dst, src, static_cast<size_t>(cols) * sizeof(float));
      }
  return out;
}

}  // namespace

std::string hf_name_from_gguf(const std::string& name) {
  if (name == "token_embd.weight") return "model.embed_tokens.weight";
  if (name == "output_norm.weight") return "model.norm.weight";
  if (name == "output.weight") return "lm_head.weight";
  if (name.rfind("blk.", 0) != 0) return "";
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return "";
  const std::string layer = name.substr(4, dot - 4), rest = name.substr(dot + 1);
  for (const auto& pair : kLayerNames)
    if (rest == pair[0]) return "model.layers." + layer + "." + pair[1];
  return "";
}

LlamaConfig llama_config_from_gguf(const GgufFile& f) {
  const GgufMetadata& m = f.metadata();
  const std::string arch = m.get_string("general.architecture");
  TEMPER_INPUT_CHECK(arch == "llama", f.path(), "general.architecture", "\"{}\" is not supported (llama)", arch);
  LlamaConfig c;
  c.model_type = "llama";
  c.n_layer = static_cast<int>(positive(f, "llama.block_count"));
  c.hidden = positive(f, "llama.embedding_length");
  c.intermediate = positive(f, "llama.feed_forward_length");
  c.n_head = static_cast<int>(positive(f, "llama.attention.head_count"));
  c.n_kv_head = static_cast<int>(m.contains("llama.attention.head_count_kv") ? positive(f, "llama.attention.head_count_kv")
                                                                            : c.n_head);
  c.head_dim = m.contains("llama.rope.dimension_count") ? positive(f, "llama.rope.dimension_count") : c.hidden / c.n_head;
  TEMPER_INPUT_CHECK(c.n_head % c.n_kv_head == 0 && c.head_dim % 2 == 0 && c.head_dim * c.n_head == c.hidden,
                     f.path(), "llama.attention.head_count", "heads {} / kv heads {} / head dim {} do not fit hidden {}",
                     c.n_head, c.n_kv_head, c.head_dim, c.hidden);
  c.vocab_size = m.contains("llama.vocab_size") ? positive(f, "llama.vocab_size")
                                                : static_cast<int64_t>(m.get_string_array("tokenizer.ggml.tokens").size());
  c.max_positions = positive(f, "llama.context_length");
  c.rms_eps = static_cast<float>(m.get_float_or("llama.attention.layer_norm_rms_epsilon", 1e-5));
  c.rope.theta = m.get_float_or("llama.rope.freq_base", 10000.0);
  const std::string scaling = m.contains("llama.rope.scaling.type") ? m.get_string("llama.rope.scaling.type") : "none";
  TEMPER_INPUT_CHECK(scaling == "none" || scaling == "linear", f.path(), "llama.rope.scaling.type",
                     "\"{}\" is not supported (none, linear)", scaling);
  TEMPER_INPUT_CHECK(!f.contains("rope_freqs.weight"), f.path(), "rope_freqs.weight",
                     "precomputed rope frequency factors (llama3 scaling) are not supported yet");
  if (scaling == "linear") {
    c.rope.type = "linear";
    c.rope.factor = m.get_float("llama.rope.scaling.factor");
  }
  c.tie_embeddings = !f.contains("output.weight");
  c.bos_token_id = static_cast<int>(m.get_int_or("tokenizer.ggml.bos_token_id", -1));
  c.eos_token_id = static_cast<int>(m.get_int_or("tokenizer.ggml.eos_token_id", -1));
  c.qkv_bias = f.contains("blk.0.attn_q.bias");
  return c;
}

std::unique_ptr<LlamaModel> load_llama_gguf(const std::string& path, Device device, DType compute_dtype,
                                            int64_t pad_to, MasterCopy master_copy, const LoraOptions& lora) {
  const GgufFile f = GgufFile::open(path);
  const LlamaConfig cfg = llama_config_from_gguf(f);
  auto model = std::make_unique<LlamaModel>(cfg, device, compute_dtype, pad_to, master_copy, lora);
  model->set_source(path);
  const ParameterStore& store = model->base_params();
  std::set<std::string> used;
  for (const std::string& name : f.names()) {
    const std::string hf = hf_name_from_gguf(name);
    TEMPER_INPUT_CHECK(!hf.empty() && store.find(hf) >= 0, path, name, "unexpected tensor for this llama config");
    const int id = store.find(hf);
    Tensor w = f.load_f32(name);
    TEMPER_INPUT_CHECK(w.shape() == store.info(id).shape, path, name, "shape {} does not match the config ({})",
                       shape_str(w.shape()), shape_str(store.info(id).shape));
    if (hf.find("q_proj.weight") != std::string::npos) w = unpermute_rows(w, cfg.n_head);
    if (hf.find("k_proj.weight") != std::string::npos) w = unpermute_rows(w, cfg.n_kv_head);
    store.master(id).copy_from(w);
    used.insert(hf);
  }
  for (int id = 0; id < store.size(); ++id)
    TEMPER_INPUT_CHECK(used.count(store.info(id).name), path, store.info(id).name, "tensor missing from the GGUF file");
  store.sync_compute_from_master();
  return model;
}

}  // namespace temper
