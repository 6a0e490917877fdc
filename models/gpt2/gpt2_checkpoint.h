// GPT-2 checkpoints in Hugging Face layout: config.json + model.safetensors (names
// `transformer.*`, lm_head tied and not stored). Loading validates names and shapes against
// the config; dtypes F32/F16/BF16 are converted to the fp32 master weights.
#pragma once
#include <memory>
#include <string>

#include "models/gpt2/gpt2_model.h"

namespace temper {

Gpt2Config load_gpt2_config(const std::string& dir);
// Builds the model from dir/config.json and loads dir/model.safetensors.
std::unique_ptr<Gpt2Model> load_gpt2(const std::string& dir, Device device, DType compute_dtype, int64_t pad_to = 1,
                                     MasterCopy master_copy = MasterCopy::AliasWhenF32);
// Loads the weights of `file` into an existing model (names/shapes validated).
void load_gpt2_weights(Gpt2Model& model, const std::string& file);
void save_gpt2(const Gpt2Model& model, const std::string& dir);

}  // namespace temper
