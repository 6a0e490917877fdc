// `temper predict` on a CNN model directory: classifies PNG/JPEG files. The input is one image file, a
// folder (every PNG/JPEG under it, listed as ImageFolder lists a class folder) or a list of image paths
// (a file or stdin, one per line). Each image is cut as image files are for training
// (transforms.Resize(resize_size) + CenterCrop(image_size) from config.json, or --resize / --image-size),
// normalised with the model's mean and std and classified in eval mode (batch norm on its running
// statistics); prints "label<TAB>probability<TAB>path" per image, in input order.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "launch/predict_flags.h"
#include "models/vision/cnn_checkpoint.h"
#include "runtime/data/image_decoder.h"
#include "runtime/data/image_folder_dataset.h"
#include "runtime/data/image_transforms.h"
#include "runtime/error.h"

namespace temper::cli {
namespace {

// A folder's images; one image (a regular file that starts as PNG/JPEG or is named as an image: the
// decoder then names what it is); else a list of paths (a file, a pipe or stdin).
std::vector<std::string> image_paths(const std::string& input) {
  std::error_code ec;
  if (input != "-" && is_image_folder(input)) {
    std::vector<std::string> files = list_image_files(input);
    TEMPER_INPUT_CHECK(!files.empty(), input, "images", "no .png/.jpg/.jpeg files in this folder");
    return files;
  }
  if (input != "-" && std::filesystem::is_regular_file(input, ec) &&
      (file_starts_as_image(input) || has_image_extension(input)))
    return {input};
  std::vector<std::string> paths = read_lines(input);
  for (const std::string& p : paths)
    TEMPER_INPUT_CHECK(p.find('\0') == std::string::npos, input, "format",
                       "binary data: neither an image nor a list of image paths");
  return paths;
}

}  // namespace

int run_image_predict(const PredictFlags& f) {
  const Device device = resolve_device(f.dev);
  CnnLoadOptions load;
  load.require_classifier = true;
  auto model = load_cnn_classifier(f.model, device, resolve_precision(f.dev, device), load);
  const VisionConfig& cfg = model->config();
  const int64_t size = f.image_size > 0 ? f.image_size : cfg.image_size;
  const int64_t resize = f.resize > 0 ? f.resize : default_resize(cfg, size);
  TEMPER_INPUT_CHECK(resize >= size, "--resize", std::to_string(resize), "must be at least the image size {}", size);
  const std::vector<std::string> files = image_paths(f.input);
  for (size_t start = 0; start < files.size(); start += static_cast<size_t>(f.batch)) {
    const std::vector<std::string> batch(
        files.begin() + static_cast<std::ptrdiff_t>(start),
        files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), start + static_cast<size_t>(f.batch))));
    const Tensor images = to_float(read_image_files(batch, resize, size));
    normalize_(images, cfg.mean, cfg.std);
    Tensor labels = Tensor::empty({static_cast<int64_t>(batch.size())}, DType::I32);
    std::fill_n(labels.data<int32_t>(), batch.size(), Classifier::kIgnoreLabel);
    Tensor logits;
    model->evaluate(images, labels, &logits);
    const int64_t n = logits.dim(1);
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto [label, p] = top_class(logits.data<float>() + static_cast<int64_t>(i) * n, n);
      std::printf("%s\t%.4f\t%s\n", model->labels()[static_cast<size_t>(label)].c_str(), p, batch[i].c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace temper::cli
