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
    {"attn_v.bias", "self_attn.v_proj.bias"},          {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},           {"ffn_down.weight", "mlp.down_proj.weight"},
};

int64_t positive(const GgufFile& f, const std::string& key) {
  const int64_t v = f.metadata().get_int(key);
  TEMPER_INPUT_CHECK(v > 0 && v < (int64_t(1) << 31), f.path(), key, "must be positive, got {}", v);
  return v;
}

// llama.cpp stores q/k rows of each head as interleaved pairs for its rope; transformers keeps the
// two halves apart: dst row (h, p, j) = src row (h, j, p) for p in {0, 1}, j < head_dim / 2. Rows
// are moved whole, so this works on f32 rows and on quantized rows (blocks never cross a row) alike.
void unpermute_rows(const uint8_t* src, uint8_t* dst, int64_t rows, int64_t row_bytes, int64_t n_head) {
  const int64_t hd = rows / n_head, half = hd / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t p = 0; p < 2; ++p)
        std::memcpy(dst + (h * hd + p * half + j) * row_bytes, src + (h * hd + j * 2 + p) * row_bytes,
                    static_cast<size_t>(row_bytes));
}

// The rope un-permutation for q_proj / k_proj weights and biases (llama.cpp's converter permutes
// both); identity for every other tensor.
int64_t rope_heads(const std::string& hf_name, const LlamaConfig& cfg) {
  if (hf_name.find("q_proj.") != std::string::npos) return cfg.n_head;
  if (hf_name.find("k_proj.") != std::string::npos) return cfg.n_kv_head;
  return 0;
}

Tensor load_f32_unpermuted(const GgufFile& f, const std::string& name, int64_t heads) {
  Tensor w = f.load_f32(name);
  if (heads == 0) return w;
  const int64_t row_elems = w.ndim() == 2 ? w.dim(1) : 1;  // a bias: one element a row
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  unpermute_rows(static_cast<const uint8_t*>(w.raw()), static_cast<uint8_t*>(out.raw()), w.dim(0), row_elems * 4,
                 heads);
  return out;
}

// QLoRA: a projection weight into the quantized store, as the file's own blocks or re-quantized.
void load_quantized(const GgufFile& f, const std::string& name, int64_t heads, QuantizedStore& q, int id,
                    BaseQuant mode) {
  const GgufTensorInfo& info = f.info(name);
  TEMPER_INPUT_CHECK(info.shape() == q.shape(id), f.path(), name, "shape {} does not match the config ({})",
                     shape_str(info.shape()), shape_str(q.shape(id)));
  if (mode == BaseQuant::Quantize) return q.set_from_f32(id, load_f32_unpermuted(f, name, heads));
  TEMPER_INPUT_CHECK(quantized_weight_supported(info.type, q.device()), f.path(), name,
                     "{} cannot be kept quantized on {}: name a type to re-quantize to (e.g. --qlora q4_0)",
                     info.type_name(), device_name(q.device()));
  if (info.type == GgmlType::F32 && q.device() == Device::Cuda) {  // bf16, as plain LoRA's compute copy
    const Tensor w = load_f32_unpermuted(f, name, heads);
    std::vector<uint8_t> bytes(static_cast<size_t>(w.numel() * 2));
    quantize_row(GgmlType::BF16, w.data<float>(), w.numel(), bytes.data());
    return q.set_blocks(id, GgmlType::BF16, bytes);
  }
  std::vector<uint8_t> bytes = f.raw(name);
  if (heads > 0) {
    std::vector<uint8_t> src = bytes;
    unpermute_rows(src.data(), bytes.data(), q.shape(id)[0], static_cast<int64_t>(bytes.size()) / q.shape(id)[0],
                   heads);
  }
  q.set_blocks(id, info.type, bytes);
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
  c.o_bias = f.contains("blk.0.attn_output.bias");
  return c;
}

std::unique_ptr<LlamaModel> load_llama_gguf(const std::string& path, Device device, DType compute_dtype,
                                            int64_t pad_to, MasterCopy master_copy, const LoraOptions& lora) {
  const GgufFile f = GgufFile::open(path);
  const LlamaConfig cfg = llama_config_from_gguf(f);
  auto model = std::make_unique<LlamaModel>(cfg, device, compute_dtype, pad_to, master_copy, lora);
  model->set_source(path);
  const ParameterStore& store = model->base_params();
  QuantizedStore* quantized = model->quantized_base();
  std::set<std::string> used;
  for (const std::string& name : f.names()) {
    const std::string hf = hf_name_from_gguf(name);
    const int qid = quantized && !hf.empty() ? quantized->find(hf) : -1;
    TEMPER_INPUT_CHECK(!hf.empty() && (store.find(hf) >= 0 || qid >= 0), path, name,
                       "unexpected tensor for this llama config");
    used.insert(hf);
    if (qid >= 0) {
      load_quantized(f, name, rope_heads(hf, cfg), *quantized, qid, lora.base_quant);
      continue;
    }
    const int id = store.find(hf);
    TEMPER_INPUT_CHECK(f.info(name).shape() == store.info(id).shape, path, name,
                       "shape {} does not match the config ({})", shape_str(f.info(name).shape()),
                       shape_str(store.info(id).shape));
    store.master(id).copy_from(load_f32_unpermuted(f, name, rope_heads(hf, cfg)));
  }
  for (int id = 0; id < store.size(); ++id)
    TEMPER_INPUT_CHECK(used.count(store.info(id).name), path, store.info(id).name, "tensor missing from the GGUF file");
  for (int id = 0; quantized && id < quantized->size(); ++id)
    TEMPER_INPUT_CHECK(used.count(quantized->name(id)), path, quantized->name(id), "tensor missing from the GGUF file");
  model->finish_base_load();
  return model;
}

}  // namespace temper
