// IdxDataset: the MNIST family's IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), raw or gzip.
// An IDX file is a big-endian header -- magic 0x000008DD (08 = unsigned byte, DD = dimension count),
// then DD uint32 sizes -- followed by the bytes in row-major order. Images use magic 0x00000803
// (N x H x W, grey), labels 0x00000801 (N). Both files are untrusted: magic, dimensions, the payload
// length against the header (a gzip stream that ends early included) and label values are checked,
// each failure an InputError naming the file and the field. The files are small (Fashion-MNIST's
// training images are 47 MB unpacked), so both are read into memory once; a gzip stream cannot be
// read at an offset anyway.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/image_dataset.h"

namespace temper {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxArray {
  std::vector<int64_t> dims;  // sizes from the header, outermost first
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads a whole IDX file of unsigned bytes (gzip-compressed or not, told by its first bytes) whose
// magic must be `expected_magic`. Every size must be >= 1.
IdxArray read_idx_file(const std::string& path, uint32_t expected_magic);

struct IdxOptions {
  int32_t num_classes = 0;  // labels must lie below it; 0 = the largest label in the file + 1
};

class IdxDataset : public ImageDataset {
 public:
  // InputError when a file is malformed, the counts differ or a label is >= options.num_classes.
  IdxDataset(const std::string& images_path, const std::string& labels_path, const IdxOptions& options = {});

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  ImageShape image_shape() const override { return shape_; }
  int32_t num_classes() const override { return num_classes_; }
  ImageBatch read(const std::vector<int64_t>& indices) override;
  std::vector<int32_t> labels() override { return labels_; }

 private:
  ImageShape shape_;
  int32_t num_classes_ = 0;
  std::vector<uint8_t> pixels_;  // [N, H, W] row-major
  std::vector<int32_t> labels_;  // [N]
};

}  // namespace temper
