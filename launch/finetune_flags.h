// `temper finetune`'s flags, shared by its causal-LM path (cmd_finetune.cpp) and its sequence-
// classification path for BERT models (cmd_finetune_classify.cpp).
#pragma once
#include <string>

#include "launch/common_options.h"
#include "models/llama/llama_model.h"
#include "runtime/data/labelled_source.h"
#include "runtime/train/train_config.h"

namespace temper::cli {

struct FinetuneFlags {
  TrainConfig cfg;
  DeviceOptions dev;
  std::string schedule = "linear", progress = "auto", comm = "auto";
  float lr = 5e-5f;
  int64_t warmup_steps = 0;
  double bucket_mb = 25.0;
  LoraOptions lora;
  std::string lora_targets = "q_proj,v_proj";
  std::string qlora;             // "" = off
  LabelledSourceConfig labelled;  // classification: which fields hold the text(s) and the label
  std::string test_file;          // classification: scored once after training
  std::string init = "pretrained";  // classification: pretrained | random (the architecture only)
  std::string pooling;               // classification: cls | mean ("" = the checkpoint's, else cls)
  std::string class_weights;         // classification: "" | auto | w0,w1,... (label-id order)
};

// The schedule, progress style, bucket size, device and dtype from the flags.
void resolve_run_settings(FinetuneFlags& f);
// An HF directory whose config.json says model_type "bert".
bool is_bert_model_dir(const std::string& dir);
int run_classification_finetune(FinetuneFlags& f);

}  // namespace temper::cli
