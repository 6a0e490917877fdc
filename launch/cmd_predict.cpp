// `temper predict`: classify lines of text with a fine-tuned sequence classifier (a BERT directory in
// BertForSequenceClassification layout with its tokenizer). Reads a file or stdin, one text per line
// (empty lines skipped), and prints "label<TAB>probability<TAB>text" per line, in input order.
// A CNN model directory classifies image files instead (cmd_predict_images.cpp).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "launch/commands.h"
#include "launch/common_options.h"
#include "launch/finetune_flags.h"  // is_bert_model_dir
#include "launch/predict_flags.h"
#include "models/bert/bert_checkpoint.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/data/classification_loader.h"
#include "runtime/data/image_decoder.h"
#include "runtime/data/wordpiece_tokenizer.h"

namespace temper::cli {
namespace {

int run(const PredictFlags& f) {
  if (is_vision_model_dir(f.model)) return run_image_predict(f);
  TEMPER_INPUT_CHECK(is_bert_model_dir(f.model), f.model, "config.json",
                     "neither a BERT classifier nor a CNN image classifier directory");
  const Device device = resolve_device(f.dev);
  auto model = load_bert_classifier(f.model, device, resolve_precision(f.dev, device));
  const WordPieceTokenizer tok = load_wordpiece(f.model);
  std::error_code ec;
  TEMPER_INPUT_CHECK(f.input == "-" || !std::filesystem::is_regular_file(f.input, ec) || !file_starts_as_image(f.input),
                     f.input, "file", "an image file: {} is a text classifier (lines of text)", f.model);
  const std::vector<std::string> lines = read_lines(f.input);
  if (lines.empty()) return 0;
  std::vector<EncodedExample> encoded;
  for (const std::string& line : lines) {
    const WordPieceTokenizer::Encoding e = tok.encode_for_classification(line, nullptr, f.max_len);
    encoded.push_back({e.ids, e.token_type_ids, ClassificationLoader::kIgnoreLabel});
  }
  ClassificationLoader loader(std::move(encoded), tok.pad_id(), LoaderOptions{f.batch, LoaderMode::Eval, 0, 0, 1});
  size_t next_line = 0;
  ClassificationBatch b;
  while (loader.next(b)) {
    const Tensor logits = model->forward({b.tokens, b.token_types, b.lengths}).to_host_f32();
    const int64_t n = logits.dim(1);
    for (int64_t i = 0; i < logits.dim(0); ++i, ++next_line) {
      const auto [label, p] = top_class(logits.data<float>() + i * n, n);
      std::printf("%s\t%.4f\t%s\n", model->labels()[static_cast<size_t>(label)].c_str(), p, lines[next_line].c_str());
    }
  }
  return 0;
}

}  // namespace

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  if (path != "-") {
    std::error_code ec;
    TEMPER_INPUT_CHECK(!std::filesystem::is_directory(path, ec), path, "file", "a directory, not a file of lines");
    file.open(path);
    TEMPER_INPUT_CHECK(file.good(), path, "file", "cannot open for reading");
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::pair<int, double> top_class(const float* row, int64_t n) {
  int arg = 0;
  for (int j = 1; j < n; ++j)
    if (row[j] > row[arg]) arg = j;
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += std::exp(double(row[j]) - row[arg]);
  return {arg, 1.0 / sum};
}

Runner add_predict(CLI::App& app) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* c = app.add_subcommand("predict", "classify lines of text or image files with a fine-tuned classifier");
  c->add_option("--model", f->model, "fine-tuned classifier directory (temper finetune output)")->required();
  c->add_option("--input", f->input,
                "text: a file, one example per line; images: a PNG/JPEG file, a folder of them (searched "
                "recursively) or a file listing image paths, one per line ('-' = stdin)")
      ->capture_default_str();
  c->add_option("--batch", f->batch, "lines or images per batch")->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  c->add_option("--max-len", f->max_len, "text: tokens per line, [CLS]/[SEP] included")->check(CLI::Range(int64_t(3), int64_t(1) << 16))->capture_default_str();
  c->add_option("--image-size", f->image_size, "images: the square input side (0: the model's image_size)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 14))->capture_default_str();
  c->add_option("--resize", f->resize, "images: the shorter side before the centre crop (0: the model's resize_size "
                "when --image-size keeps its size, else --image-size)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 14))->capture_default_str();
  add_device_options(*c, f->dev);
  return [f] { return run(*f); };
}

}  // namespace temper::cli
