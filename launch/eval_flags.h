// `temper eval`'s flags, shared by its causal-LM path (cmd_eval.cpp: loss and perplexity on text), its
// text-classifier path (cmd_eval_classifier.cpp: a BERT classifier on a labelled CSV/TSV/JSONL file)
// and its image path (cmd_eval_images.cpp: a CNN classifier on a labelled image set).
#pragma once
#include <cstdint>
#include <string>

#include "launch/common_options.h"
#include "runtime/data/image_dataset_open.h"
#include "runtime/data/labelled_source.h"
#include "runtime/train/train_task.h"

namespace temper::cli {

struct EvalFlags {
  std::string model, data, cache_dir;
  int64_t seq_len = 128, batch = 4, max_batches = 0;
  LabelledSourceConfig labelled;  // text classifiers: which fields hold the text(s) and the label
  std::string labels;             // images: the IDX labels file, or the HDF5 file holding the labels
  ImageSourceConfig source;       // images: HDF5 dataset names
  int64_t image_size = 0;         // images: input side; 0 = the model's image_size
  int64_t resize = 0;             // image folders: shorter side before the centre crop; 0 = the model's
  DeviceOptions dev;
};

// Loss, accuracy, macro-F1, per-class precision / recall and the confusion matrix of a classifier on
// f.data, printed as one JSON object: a BERT classifier directory on labelled text, a CNN directory on
// labelled images.
int run_classifier_eval(const EvalFlags& f);
// Logs the report's line and prints its metrics and details as one JSON object; returns 0.
int print_eval_report(const EvalReport& r);
int run_image_eval(const EvalFlags& f);

}  // namespace temper::cli
