// Hdf5Dataset: images and labels stored as HDF5 datasets (the HDF5 C API; built only when the build
// has HDF5, i.e. TEMPER_WITH_HDF5). The images dataset is N x H x W x C or N x H x W (grey, C = 1) of
// unsigned 8-bit integers; the labels dataset holds N integers of any integer type, as N or
// N x 1 x ... x 1 (PatchCamelyon's labels are N x 1 x 1 x 1). The two may live in one file or in two
// (PatchCamelyon ships *_x.h5 with dataset "x" and *_y.h5 with dataset "y"). Reads select hyperslabs
// of just the requested rows, so a rank touches only its shard; no dataset is ever read whole.
// Files are untrusted: dataset presence, ranks, element types, extents and label values are checked,
// each failure an InputError naming the file and the field.
#pragma once
#ifdef TEMPER_WITH_HDF5
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/image_dataset.h"

namespace temper {

struct Hdf5Options {
  std::string images_dataset = "images";  // path inside the images file, e.g. "x" or "train/images"
  std::string labels_dataset = "labels";  // path inside the labels file
  int32_t num_classes = 0;                // labels must lie below it; 0 = the largest label + 1 (scanned in blocks)
};

class Hdf5Dataset : public ImageDataset {
 public:
  // Opens both datasets read-only and checks them (InputError naming the file and the field).
  // labels_path may equal images_path.
  Hdf5Dataset(const std::string& images_path, const std::string& labels_path, const Hdf5Options& options = {});
  ~Hdf5Dataset() override;
  Hdf5Dataset(const Hdf5Dataset&) = delete;
  Hdf5Dataset& operator=(const Hdf5Dataset&) = delete;

  int64_t size() const override { return n_; }
  ImageShape image_shape() const override { return shape_; }
  int32_t num_classes() const override { return num_classes_; }
  // One H5Dread per dataset covering only the requested rows (InputError on a label out of range).
  ImageBatch read(const std::vector<int64_t>& indices) override;
  std::vector<int32_t> labels() override;  // the labels dataset alone, in blocks

 private:
  struct Handles;  // HDF5 ids, kept out of this header so users need no hdf5.h
  std::unique_ptr<Handles> h_;
  std::string images_path_, labels_path_;
  int64_t n_ = 0;
  ImageShape shape_;
  int32_t num_classes_ = 0;

  int32_t scan_num_classes();
  std::vector<int64_t> read_labels(const std::vector<int64_t>& sorted_rows);
  std::vector<int64_t> read_label_block(int64_t begin);
};

}  // namespace temper
#endif  // TEMPER_WITH_HDF5
