// `temper finetune` on a CNN model directory (config.json with an "architecture"): image
// classification. IDX or HDF5 images + labels, or folders of PNG/JPEG files per class (a held-out
// split when no --valid), resized to the model's input, grey turned RGB, training crops / flips, the model's normalisation; batches sharded
// over ranks; the Trainer with an ImageClassificationTask; validation accuracy / macro-F1 / confusion
// matrix; an optional test set; the model written in torch's layout (cnn_checkpoint.h).
#include <sstream>

#include "launch/finetune_flags.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/comm/communicator_factory.h"
#include "runtime/logger.h"
#include "runtime/train/image_classification_task.h"
#include "runtime/train/trainer.h"

namespace temper::cli {
namespace {

struct ImageData {
  std::unique_ptr<ImageDataset> train, valid, test;
};

// Image folders are cut to the input size as they are read; a validation or test folder takes the
// training folder's class list, so the ids agree.
ImageData open_data(const FinetuneFlags& f, int64_t image_size, int64_t resize) {
  const TrainConfig& t = f.cfg;
  const ImageFlags& im = f.images;
  TEMPER_INPUT_CHECK(im.resize == 0 || is_image_folder(t.train_file), "--resize", std::to_string(im.resize),
                     "applies to folders of image files; {} is not one (--image-size resizes it)", t.train_file);
  ImageSourceConfig source = im.source;
  source.folder.size = image_size;
  source.folder.resize = resize;
  ImageData d;
  d.train = open_image_dataset(t.train_file, im.train_labels, source, "--train-labels");
  source.folder.classes = d.train->class_names();
  if (!t.valid_file.empty()) {
    d.valid = open_image_dataset(t.valid_file, im.valid_labels, source, "--valid-labels");
  } else if (t.valid_fraction > 0) {
    ImageSplit s = split_image_dataset(std::move(d.train), t.valid_fraction, t.seed);
    d.train = std::move(s.train);
    d.valid = std::move(s.valid);
  }
  if (!f.test_file.empty()) d.test = open_image_dataset(f.test_file, im.test_labels, source, "--test-labels");
  return d;
}

int32_t class_count(const ImageData& d) {
  int32_t n = d.train->num_classes();
  for (const ImageDataset* s : {d.valid.get(), d.test.get()})
    if (s) n = std::max(n, s->num_classes());
  return n;
}

// --label-names, else the data's own (class folder) names, else the checkpoint's names when it has as
// many classes, else "0" .. "n-1".
std::vector<std::string> class_names(const std::string& flag, int32_t n, const ImageDataset& train,
                                     const VisionConfig& cfg) {
  std::vector<std::string> names;
  if (!flag.empty()) {
    std::stringstream ss(flag);
    for (std::string item; std::getline(ss, item, ',');) names.push_back(item);
    TEMPER_INPUT_CHECK(static_cast<int32_t>(names.size()) == n, "--label-names", flag,
                       "{} names for the {} classes of the data", names.size(), n);
    return names;
  }
  names = train.class_names();
  if (static_cast<int32_t>(names.size()) == n) return names;
  if (cfg.num_classes() == n) return cfg.labels;
  return numbered_labels(n);
}

std::vector<double> label_counts(ImageDataset& data, int32_t n) {
  std::vector<double> counts(static_cast<size_t>(n), 0.0);
  for (int32_t label : data.labels()) counts[static_cast<size_t>(label)] += 1;
  return counts;
}

int64_t input_size(const ImageFlags& im, const VisionConfig& cfg) { return im.image_size > 0 ? im.image_size : cfg.image_size; }

// Image files' shorter side before the centre crop: --resize, else the checkpoint's (default_resize);
// the input size when the training data are arrays (IDX, HDF5), which are resized, not cropped.
int64_t resize_size(const FinetuneFlags& f, const VisionConfig& cfg) {
  const ImageFlags& im = f.images;
  if (!is_image_folder(f.cfg.train_file)) return input_size(im, cfg);
  return im.resize > 0 ? im.resize : default_resize(cfg, input_size(im, cfg));
}

ImageTransformOptions transforms(const ImageFlags& im, const VisionConfig& cfg) {
  ImageTransformOptions o;
  o.out_h = o.out_w = input_size(im, cfg);
  o.channels = ChannelMode::ToRgb;
  o.crop_padding = im.crop_padding;
  o.hflip_p = im.hflip;
  o.mean = cfg.mean;
  o.std = cfg.std;
  return o;
}

LoaderOptions loader_options(const TrainConfig& t, LoaderMode mode, const Communicator& comm) {
  return LoaderOptions{t.micro_batch, mode, t.seed, comm.rank(), comm.world_size()};
}

}  // namespace

int run_image_finetune(FinetuneFlags& f) {
  TrainConfig& t = f.cfg;
  const ImageFlags& im = f.images;
  TEMPER_INPUT_CHECK(f.lora.r == 0 && f.qlora.empty(), "--lora-r", "value", "LoRA is implemented for the Llama family");
  TEMPER_INPUT_CHECK(im.crop_padding >= 0, "--crop-padding", std::to_string(im.crop_padding), "must be >= 0");
  resolve_run_settings(f);
  std::unique_ptr<Communicator> comm = make_communicator(f.comm, t.device);
  log_info("device {} ({} compute), {} rank(s), {} communicator; image classification", device_name(t.device),
           dtype_name(t.compute_dtype), comm->world_size(), comm->backend());
  const VisionConfig checkpoint_cfg = read_vision_config(t.model_dir);
  const int64_t size = input_size(im, checkpoint_cfg), resize = resize_size(f, checkpoint_cfg);
  ImageData data = open_data(f, size, resize);
  const int32_t classes = class_count(data);
  CnnLoadOptions o;
  o.labels = class_names(im.label_names, classes, *data.train, checkpoint_cfg);
  o.freeze = im.freeze;
  o.pad_to = t.zero_stage == 1 ? comm->world_size() : 1;
  o.seed = t.seed;
  o.dropout = im.dropout;
  auto model = f.init == "random" ? random_cnn_classifier(t.model_dir, t.device, t.compute_dtype, o)
                                  : load_cnn_classifier(t.model_dir, t.device, t.compute_dtype, o);
  if (f.init == "random") log_info("weights: random initialisation (the from-scratch baseline)");
  model->set_input_size(size, resize);
  if (!f.class_weights.empty())
    model->set_class_weights(parse_class_weights(f.class_weights, model->labels(), label_counts(*data.train, classes)));
  const ImageTransformOptions tf = transforms(im, model->config());
  log_info("{}: {} trained parameters{}; images {}x{} RGB; data: {} training, {} validation, {} test images, {} classes",
           model->config().architecture, model->params().numel(),
           im.freeze.empty() || im.freeze == "none" ? "" : " (frozen up to " + im.freeze + ")", tf.out_h, tf.out_w,
           data.train->size(), data.valid ? data.valid->size() : 0, data.test ? data.test->size() : 0, classes);
  ImageLoader train(std::move(data.train), loader_options(t, LoaderMode::Train, *comm), tf);
  std::optional<ImageLoader> val;
  if (data.valid) val.emplace(std::move(data.valid), loader_options(t, LoaderMode::Eval, *comm), tf);
  Trainer trainer(t, std::make_unique<ImageClassificationTask>(*model, std::move(train), std::move(val)), *comm);
  nlohmann::json summary = trainer.run();
  if (data.test) {
    ImageLoader test(std::move(data.test), loader_options(t, LoaderMode::Eval, *comm), tf);
    const EvalReport r = evaluate_image_classifier(*model, test, 0, comm.get());
    log_info("test: {}", r.text);
    for (const auto& [name, value] : r.metrics.items()) summary["test_" + name] = value;
    summary["test_per_class"] = r.details["per_class"];
    summary["test_confusion"] = r.details["confusion"];
  }
  if (comm->rank() != 0) return 0;
  if (!summary.value("interrupted", false)) log_info("fine-tuned classifier written to {}", t.output_dir);
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace temper::cli
