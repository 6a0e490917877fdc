// Picks the model family from config.json's model_type and loads the checkpoint.
#pragma once
#include <memory>
#include <string>

#include "models/llama/llama_model.h"
#include "runtime/train/causal_lm.h"

namespace temper {

// dir/config.json + dir/model.safetensors (or a llama .gguf file). InputError for an unknown model_type.
// pad_to: flat parameter buffers padded to a multiple of it (the world size under ZeRO-1).
// lora.r > 0 trains LoRA adapters on a frozen base (Llama family only).
std::unique_ptr<CausalLm> load_causal_lm(const std::string& dir, Device device, DType compute_dtype,
                                         int64_t pad_to = 1, const LoraOptions& lora = LoraOptions());

}  // namespace temper
