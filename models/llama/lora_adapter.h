// LoRA adapters in HF PEFT's format: adapter_config.json (peft_type LORA, r, lora_alpha,
// target_modules) and adapter_model.safetensors with names "base_model.model.<module>.lora_A.weight"
// / ".lora_B.weight" (A [r, in], B [out, r]), which PEFT loads onto the base model unchanged.
#pragma once
#include <string>

#include "models/llama/llama_model.h"

namespace temper {

// Writes the model's adapters (fp32) and their config; base_model names the base checkpoint.
void save_peft_adapter(const LlamaModel& model, const std::string& dir, const std::string& base_model);
// Reads adapter weights saved by PEFT (or by us) into a model built with the same LoraOptions.
void load_peft_adapter(LlamaModel& model, const std::string& dir);
// r, alpha and target modules from an adapter_config.json (InputError on anything but plain LoRA).
LoraOptions lora_options_from_peft(const std::string& dir);
// W += (alpha / r) B A for every adapted projection, in the base's fp32 master weights (and compute
// copy), as PEFT's merge_and_unload does; the base can then be saved as a plain checkpoint.
void merge_lora_into_base(LlamaModel& model);

}  // namespace temper
