// Llama-family models from GGUF files (llama.cpp's format): the config from the `llama.*`
// metadata, llama.cpp's tensor names mapped onto transformers' names, every tensor dequantized to
// the fp32 master weights, and the q/k row permutation llama.cpp applies for its rope undone.
#pragma once
#include <memory>
#include <string>

#include "models/io/gguf.h"
#include "models/llama/llama_model.h"

namespace temper {

LlamaConfig llama_config_from_gguf(const GgufFile& f);
// The transformers name of a llama.cpp tensor name ("" for names this mapping does not know).
std::string hf_name_from_gguf(const std::string& gguf_name);
std::unique_ptr<LlamaModel> load_llama_gguf(const std::string& path, Device device, DType compute_dtype,
                                            int64_t pad_to = 1, MasterCopy master_copy = MasterCopy::AliasWhenF32,
                                            const LoraOptions& lora = LoraOptions());

}  // namespace temper
