// `temper predict`'s flags, shared by its text path (cmd_predict.cpp: a fine-tuned BERT classifier) and
// its image path (cmd_predict_images.cpp: a fine-tuned CNN), and the one-line-per-input output.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "launch/common_options.h"

namespace temper::cli {

struct PredictFlags {
  std::string model, input = "-";
  int64_t batch = 32;
  int64_t max_len = 128;   // text: tokens per line
  int64_t image_size = 0;  // images: input side; 0 = the model's image_size
  int64_t resize = 0;      // images: shorter side before the centre crop; 0 = the model's resize_size
  DeviceOptions dev;
};

// The non-empty lines of a file ('-' = stdin), '\r' stripped. InputError when it cannot be opened.
std::vector<std::string> read_lines(const std::string& path);

// Softmax of one row of logits: (argmax, its probability).
std::pair<int, double> top_class(const float* row, int64_t n);

// Classifies image files with a CNN model directory; prints "label<TAB>probability<TAB>path" per image.
int run_image_predict(const PredictFlags& f);

}  // namespace temper::cli
