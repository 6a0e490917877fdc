// ImageDataset: a labelled image set read by row index, so a data-parallel rank reads only its own
// shard. Images come back as uint8 NHWC (grey sets have C = 1), labels as int32 class ids; the
// transforms in image_transforms.h turn a batch into normalised f32 for the model.
// Implementations: IdxDataset (MNIST family, idx_dataset.h), Hdf5Dataset (hdf5_dataset.h) and
// ImageFolderDataset (PNG/JPEG files in class folders, image_folder_dataset.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace temper {

struct ImageShape {
  int64_t h = 0, w = 0, c = 0;  // H, W, C of one image
};

struct ImageBatch {
  Tensor images;  // [N, H, W, C] u8 CPU, row i = image indices[i]
  Tensor labels;  // [N] i32 CPU, each in [0, num_classes)
};

class ImageDataset {
 public:
  virtual ~ImageDataset() = default;

  virtual int64_t size() const = 0;  // number of images
  virtual ImageShape image_shape() const = 0;
  virtual int32_t num_classes() const = 0;  // labels lie in [0, num_classes)

  // Reads the images and labels of `indices` (any order, repeats allowed), in that order.
  // TEMPER_CHECK on an index outside [0, size()). Not thread-safe: one reader per dataset object.
  virtual ImageBatch read(const std::vector<int64_t>& indices) = 0;

  // Every label in row order. The default reads the rows in blocks, images included; data sets that
  // keep their labels apart override it.
  virtual std::vector<int32_t> labels();

  // The class names in id order when the data carries them (image folders); empty otherwise.
  virtual std::vector<std::string> class_names() const { return {}; }
};

}  // namespace temper
