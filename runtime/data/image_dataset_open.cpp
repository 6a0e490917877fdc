// Image data set opening by file kind, subsets and the held-out split.
#include "runtime/data/image_dataset_open.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "runtime/data/hdf5_dataset.h"
#include "runtime/data/image_decoder.h"
#include "runtime/data/idx_dataset.h"
#include "runtime/data/loader_state.h"
#include "runtime/error.h"

namespace temper {
namespace {

bool is_hdf5_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".h5" || ext == ".hdf5" || ext == ".he5";
}

}  // namespace

std::unique_ptr<ImageDataset> open_image_dataset(const std::string& images_path, const std::string& labels_path,
                                                 const ImageSourceConfig& config, const std::string& what) {
  TEMPER_INPUT_CHECK(std::filesystem::exists(images_path), images_path, "file", "does not exist");
  if (is_image_folder(images_path)) {
    TEMPER_INPUT_CHECK(labels_path.empty(), what, "value",
                       "{} is a folder of class folders: the labels are the folder names, drop {}", images_path, what);
    return std::make_unique<ImageFolderDataset>(images_path, config.folder);
  }
  if (is_hdf5_path(images_path)) {
#ifdef TEMPER_WITH_HDF5
    Hdf5Options o;
    o.images_dataset = config.images_key;
    o.labels_dataset = config.labels_key;
    o.num_classes = config.num_classes;
    return std::make_unique<Hdf5Dataset>(images_path, labels_path.empty() ? images_path : labels_path, o);
#else
    TEMPER_INPUT_CHECK(false, images_path, "file", "an HDF5 file, but this build has no HDF5 (install libhdf5-dev and rebuild)");
#endif
  }
  TEMPER_INPUT_CHECK(!file_starts_as_image(images_path), images_path, "file",
                     "one image file: a data set is a folder of class folders holding the images, an HDF5 file "
                     "or an IDX pair");
  TEMPER_INPUT_CHECK(!labels_path.empty(), what, "value",
                     "{} is an IDX images file: give its labels file (IDX labels) too", images_path);
  IdxOptions o;
  o.num_classes = config.num_classes;
  return std::make_unique<IdxDataset>(images_path, labels_path, o);
}

ImageSubset::ImageSubset(std::shared_ptr<ImageDataset> base, std::vector<int64_t> rows)
    : base_(std::move(base)), rows_(std::move(rows)) {
  for (int64_t r : rows_) TEMPER_CHECK(r >= 0 && r < base_->size(), "image subset: row {} of {}", r, base_->size());
}

ImageBatch ImageSubset::read(const std::vector<int64_t>& indices) {
  std::vector<int64_t> base_rows;
  base_rows.reserve(indices.size());
  for (int64_t i : indices) {
    TEMPER_CHECK(i >= 0 && i < size(), "image subset: index {} of {}", i, size());
    base_rows.push_back(rows_[static_cast<size_t>(i)]);
  }
  return base_->read(base_rows);
}

std::vector<int32_t> ImageSubset::labels() {
  const std::vector<int32_t> all = base_->labels();
  std::vector<int32_t> out;
  out.reserve(rows_.size());
  for (int64_t r : rows_) out.push_back(all[static_cast<size_t>(r)]);
  return out;
}

ImageSplit split_image_dataset(std::unique_ptr<ImageDataset> data, double fraction, uint64_t seed) {
  const int64_t n = data->size();
  TEMPER_INPUT_CHECK(n >= 2, "--valid-fraction", "value", "{} images cannot be split into training and validation", n);
  const int64_t held = std::clamp<int64_t>(static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))), 1, n - 1);
  std::vector<int64_t> order = epoch_permutation(n, seed ^ 0x5711u, 0);
  std::vector<int64_t> valid(order.begin(), order.begin() + held), train(order.begin() + held, order.end());
  std::sort(valid.begin(), valid.end());  // file order: neighbouring reads
  std::sort(train.begin(), train.end());
  std::shared_ptr<ImageDataset> base(std::move(data));
  return {std::make_unique<ImageSubset>(base, std::move(train)), std::make_unique<ImageSubset>(base, std::move(valid))};
}

}  // namespace temper
