// Opening an image data set from the command line's paths: a directory of class folders holding PNG
// and JPEG files (image_folder_dataset.h), an HDF5 file (.h5 / .hdf5: the images and labels datasets
// named by ImageSourceConfig, labels in the same file unless another is given) or an IDX pair (MNIST
// family, raw or .gz: the images file plus its labels file). Also a held-out
// split of a data set by a seeded choice of rows, for a validation set without its own file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/image_dataset.h"
#include "runtime/data/image_folder_dataset.h"

namespace temper {

struct ImageSourceConfig {
  std::string images_key = "images";  // HDF5 dataset paths
  std::string labels_key = "labels";
  int32_t num_classes = 0;  // labels must lie below it; 0 = from the data
  ImageFolderOptions folder;  // image folders: output size, resize, class list
};

// InputError naming the path (and the flag `what` for a missing labels file) on any problem.
std::unique_ptr<ImageDataset> open_image_dataset(const std::string& images_path, const std::string& labels_path,
                                                 const ImageSourceConfig& config, const std::string& what);

// The rows `rows` of a shared data set, as a data set of its own (row i = base row rows[i]).
class ImageSubset : public ImageDataset {
 public:
  ImageSubset(std::shared_ptr<ImageDataset> base, std::vector<int64_t> rows);
  int64_t size() const override { return static_cast<int64_t>(rows_.size()); }
  ImageShape image_shape() const override { return base_->image_shape(); }
  int32_t num_classes() const override { return base_->num_classes(); }
  ImageBatch read(const std::vector<int64_t>& indices) override;
  std::vector<int32_t> labels() override;
  std::vector<std::string> class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<ImageDataset> base_;
  std::vector<int64_t> rows_;
};

struct ImageSplit {
  std::unique_ptr<ImageDataset> train, valid;
};
// Holds out round(fraction * size) rows chosen by `seed` (at least one, and one left for training).
ImageSplit split_image_dataset(std::unique_ptr<ImageDataset> data, double fraction, uint64_t seed);

}  // namespace temper
