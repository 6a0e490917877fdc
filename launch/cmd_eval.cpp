// `temper eval`: validation loss and perplexity of a model on a text/JSONL file; a classifier is scored
// on labelled data instead (a BERT classifier: cmd_eval_classifier.cpp; a CNN: cmd_eval_images.cpp).
#include <cstdio>
#include <filesystem>

#include "launch/commands.h"
#include "launch/common_options.h"
#include "launch/eval_flags.h"
#include "launch/finetune_flags.h"  // is_bert_model_dir
#include "models/model_loader.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/data/packed_dataset.h"
#include "runtime/data/tokenizer_loader.h"
#include "runtime/logger.h"
#include "runtime/train/evaluator.h"

namespace temper::cli {
namespace {

int run(const EvalFlags& f) {
  if (is_vision_model_dir(f.model)) return run_image_eval(f);
  if (is_bert_model_dir(f.model)) return run_classifier_eval(f);
  const Device device = resolve_device(f.dev);
  auto tokenizer = load_tokenizer(f.model);
  auto model = load_causal_lm(f.model, device, resolve_precision(f.dev, device));
  TEMPER_INPUT_CHECK(f.seq_len <= model->max_positions(), "--seq-len", "value", "{} exceeds the model's context of {}",
                     f.seq_len, model->max_positions());
  DataConfig d;
  d.train_path = f.data;
  d.cache.cache_dir = f.cache_dir;
  d.cache.tokenizer_id = tokenizer_identity(f.model);
  d.packing.seq_len = f.seq_len;
  DatasetSplit split = load_datasets(d, *tokenizer);
  split.train.check_vocab(static_cast<int32_t>(model->vocab_size()));
  SequenceLoader loader(split.train, LoaderOptions{f.batch, LoaderMode::Eval, 0, 0, 1});
  const EvalResult r = evaluate(*model, loader, f.max_batches);
  std::printf("{\"loss\": %.6f, \"perplexity\": %.4f, \"tokens\": %lld}\n", r.loss, r.perplexity,
              static_cast<long long>(r.targets));
  return 0;
}

}  // namespace

int print_eval_report(const EvalReport& r) {
  log_info("eval: {}", r.text);
  nlohmann::json out = r.metrics;
  out.update(r.details);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Runner add_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* c = app.add_subcommand("eval", "loss and perplexity of a model on a data file (a classifier: loss, "
                                           "accuracy, macro-F1 and confusion matrix on labelled text or images)");
  c->add_option("--model", f->model, "model directory (HF layout, or a CNN directory)")->required();
  c->add_option("--data", f->data, "text file or JSONL; text classifiers: labelled CSV/TSV/JSONL; images: a folder of class folders, an HDF5 file or IDX images")
      ->required();
  c->add_option("--text-field", f->labelled.text_field, "text classifiers: the text column / key")->capture_default_str();
  c->add_option("--text-b-field", f->labelled.text_b_field, "text classifiers: a second text column (sentence pairs)");
  c->add_option("--label-field", f->labelled.label_field, "text classifiers: the label column / key")->capture_default_str();
  c->add_option("--labels", f->labels, "images: the IDX labels file (or the HDF5 file holding the labels)");
  c->add_option("--images-key", f->source.images_key, "images: HDF5 dataset of the images")->capture_default_str();
  c->add_option("--labels-key", f->source.labels_key, "images: HDF5 dataset of the labels")->capture_default_str();
  c->add_option("--image-size", f->image_size, "images: the square input side (0: the model's image_size)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 14));
  c->add_option("--resize", f->resize, "image folders: the shorter side before the centre crop (0: the model's resize_size "
                                          "when --image-size keeps its size, else --image-size)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 14));
  c->add_option("--seq-len", f->seq_len, "text: tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 20))->capture_default_str();
  c->add_option("--batch", f->batch, "sequences (images) per batch")->check(CLI::Range(int64_t(1), int64_t(1) << 16))->capture_default_str();
  c->add_option("--max-batches", f->max_batches, "stop after N batches (0: all)")->check(CLI::NonNegativeNumber);
  c->add_option("--cache-dir", f->cache_dir, "token cache directory (default: none)");
  add_device_options(*c, f->dev);
  add_config_option(*c);
  return [f] { return run(*f); };
}

}  // namespace temper::cli
