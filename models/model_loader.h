// Picks the model family from config.json's model_type and loads the checkpoint.
#pragma once
#include <memory>
#include <string>

#include "runtime/train/causal_lm.h"

namespace temper {

// dir/config.json + dir/model.safetensors (or a llama .gguf file). InputError for an unknown model_type.
// pad_to: flat parameter buffers padded to a multiple of it (the world size under ZeRO-1).
std::unique_ptr<CausalLm> load_causal_lm(const std::string& dir, Device device, DType compute_dtype,
                                         int64_t pad_to = 1);

}  // namespace temper
