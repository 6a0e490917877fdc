#!/usr/bin/env python3
"""A tiny Llama with attention biases as a GGUF file, written the way llama.cpp's converter writes it
(q/k weights AND biases permuted for its rope, llama.cpp tensor names), plus transformers' logits for
fixed tokens: tests/fixtures/llama_bias_gguf/{model.gguf, expected.safetensors}, for
tests/test_llama_gguf.cpp.  python3 tools/make_llama_gguf_fixture.py   (torch, transformers, gguf)"""
import os

import gguf
import numpy as np
import torch
import transformers
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "llama_bias_gguf")
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "self_attn.o_proj.bias": "attn_output.bias",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def permute(w, n_head):  # llama.cpp's LlamaModel.permute: halves -> interleaved pairs per head
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(hf):
    if hf == "model.embed_tokens.weight": return "token_embd.weight"
    if hf == "model.norm.weight": return "output_norm.weight"
    if hf == "lm_head.weight": return "output.weight"
    parts = hf.split(".")
    return f"blk.{parts[2]}." + LAYER_NAMES[".".join(parts[3:])]


def main():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, vocab_size=101, max_position_embeddings=64,
                                   rms_norm_eps=1e-5, rope_theta=10000.0, attention_bias=True,
                                   tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # biases are zero-initialised: make every tensor count
            p.normal_(0.0, 0.2)
    os.makedirs(OUT, exist_ok=True)
    w = gguf.GGUFWriter(os.path.join(OUT, "model.gguf"), "llama")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(cfg.vocab_size)
    for name, t in model.state_dict().items():
        a = t.numpy().astype(np.float32)
        if "q_proj" in name: a = permute(a, cfg.num_attention_heads)
        if "k_proj" in name: a = permute(a, cfg.num_key_value_heads)
        w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tokens = torch.tensor([[5, 9, 100, 7, 1, 3, 42, 17]], dtype=torch.int64)
    with torch.no_grad():
        logits = model(input_ids=tokens).logits
    save_file({"tokens": tokens.numpy().astype(np.int32), "logits": logits.numpy().astype(np.float32)},
              os.path.join(OUT, "expected.safetensors"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
