// `temper finetune`'s flags, shared by its causal-LM path (cmd_finetune.cpp) and its sequence-
// classification path for BERT models (cmd_finetune_classify.cpp).
#pragma once
#include <string>

#include "launch/common_options.h"
#include "models/llama/llama_model.h"
#include "runtime/data/image_dataset_open.h"
#include "runtime/data/classification_loader.h"
#include "runtime/data/labelled_source.h"
#include "runtime/data/wordpiece_tokenizer.h"
#include "runtime/train/train_config.h"

namespace temper::cli {

// Image classification (a CNN model directory): where labels live, the input pipeline, freezing.
struct ImageFlags {
  std::string train_labels, valid_labels, test_labels;  // IDX labels files / HDF5 files with the labels
  ImageSourceConfig source;                             // HDF5 dataset names, image folder sizes
  int64_t image_size = 0;                               // resize target; 0 = the model's image_size
  int64_t resize = 0;                                   // image folders: shorter side before the crop
  int64_t crop_padding = 0;                             // training: random crop after zero padding
  double hflip = 0.0;                                   // training: horizontal flip probability
  std::string freeze;                                   // none | a stage name | backbone
  float dropout = -1.f;                                 // before the classifier; < 0 = the model's
  std::string label_names;                              // comma-separated class names
};

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
  ImageFlags images;
};

// The schedule, progress style, bucket size, device and dtype from the flags.
void resolve_run_settings(FinetuneFlags& f);
// An HF directory whose config.json says model_type "bert".
bool is_bert_model_dir(const std::string& dir);
int run_classification_finetune(FinetuneFlags& f);
// A BERT directory's WordPiece tokenizer: tokenizer.json, else vocab.txt (InputError naming dir).
WordPieceTokenizer load_wordpiece(const std::string& dir);
// Examples as [CLS] text [SEP] (text_b [SEP]) ids truncated to max_len, with their labels.
std::vector<EncodedExample> encode_labelled(const std::vector<LabelledExample>& examples, const WordPieceTokenizer& tok,
                                            int64_t max_len);
// --class-weights for labels with these training counts ("" = none, "auto" = balanced, or a list).
std::vector<float> parse_class_weights(const std::string& value, const std::vector<std::string>& names,
                                       const std::vector<double>& counts);
// A directory whose config.json names a CNN architecture: image classification.
int run_image_finetune(FinetuneFlags& f);

}  // namespace temper::cli
