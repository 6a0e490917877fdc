// Llama-family checkpoints in Hugging Face layout: config.json + model.safetensors (names as in
// transformers' LlamaForCausalLM / Qwen2ForCausalLM; lm_head.weight absent when tied).
#pragma once
#include <memory>
#include <string>

#include "models/llama/llama_model.h"

namespace temper {

// lora.r > 0: the loaded weights become the frozen base and adapters are added (PEFT's init).
std::unique_ptr<LlamaModel> load_llama(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to = 1,
                                       MasterCopy master_copy = MasterCopy::AliasWhenF32,
                                       const LoraOptions& lora = LoraOptions());
void load_llama_weights(LlamaModel& model, const std::string& file);
void save_llama(const LlamaModel& model, const std::string& dir);

}  // namespace temper
