// `temper eval` on a CNN model directory: scores the classifier on a labelled image set (a folder of
// class folders, whose names must be among the model's classes; an HDF5 file; an IDX pair) prepared as
// the fine-tune prepares its validation set (resize to the model's input, grey -> RGB, the model's
// normalisation; image files cut with Resize(resize_size) + CenterCrop(image_size)), batch norm on its
// running statistics. Prints one JSON object: loss, accuracy, macro_f1, examples, per_class, confusion.
#include "launch/eval_flags.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/data/image_loader.h"
#include "runtime/logger.h"
#include "runtime/train/image_classification_task.h"

namespace temper::cli {

int run_image_eval(const EvalFlags& f) {
  TEMPER_INPUT_CHECK(f.resize == 0 || is_image_folder(f.data), "--resize", std::to_string(f.resize),
                     "applies to folders of image files; {} is not one (--image-size resizes it)", f.data);
  const Device device = resolve_device(f.dev);
  CnnLoadOptions load;
  load.require_classifier = true;
  auto model = load_cnn_classifier(f.model, device, resolve_precision(f.dev, device), load);
  const VisionConfig& cfg = model->config();
  ImageSourceConfig source = f.source;
  source.num_classes = static_cast<int32_t>(cfg.num_classes());
  source.folder.size = f.image_size > 0 ? f.image_size : cfg.image_size;
  source.folder.resize = f.resize > 0 ? f.resize : default_resize(cfg, source.folder.size);
  source.folder.classes = cfg.labels;
  std::unique_ptr<ImageDataset> data = open_image_dataset(f.data, f.labels, source, "--labels");
  ImageTransformOptions tf;
  tf.out_h = tf.out_w = source.folder.size;
  tf.channels = ChannelMode::ToRgb;
  tf.mean = cfg.mean;
  tf.std = cfg.std;
  log_info("{} ({} classes) on {}: {} images at {}x{}", cfg.architecture, cfg.num_classes(), f.data, data->size(),
           tf.out_h, tf.out_w);
  ImageLoader loader(std::move(data), LoaderOptions{f.batch, LoaderMode::Eval, 0, 0, 1}, tf);
  return print_eval_report(evaluate_image_classifier(*model, loader, f.max_batches, nullptr));
}

}  // namespace temper::cli
