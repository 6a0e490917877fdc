// ImageFolderDataset: torchvision's ImageFolder layout, root/<class>/**/<image>.{png,jpg,jpeg}.
// Classes are the root's subdirectories in sorted (byte) order, unless a class list is given (a
// validation or test folder takes the training folder's list, so a folder lacking a class keeps the
// same ids; a subdirectory not in the list is an error). Images are listed as torchvision does: each
// class folder walked recursively (directory links followed, each directory once), files sorted by
// directory then name, extensions matched case-insensitively; the other formats torchvision reads
// (.bmp, .ppm, .pgm, .tif, .tiff, .webp) are an error rather than silently skipped, any other file is
// ignored.
// Only the file list is held: read() decodes the requested files (OpenMP threads, one image each),
// turns them into RGB and gives them one shape with transforms.Resize(resize) +
// transforms.CenterCrop(size) on PIL images, bit for bit (image_decoder.h, image_resample.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/image_dataset.h"

namespace temper {

struct ImageFolderOptions {
  int64_t size = 0;                  // the square output side (>= 1)
  int64_t resize = 0;                // the shorter side before the centre crop; 0 = size (>= size)
  std::vector<std::string> classes;  // the class names in id order; empty = root's subdirectories
};

class ImageFolderDataset : public ImageDataset {
 public:
  // InputError (file = root or the offending path) for a missing root, no class folders, an empty
  // class folder, an unknown class folder, an unsupported image format, or bad sizes.
  ImageFolderDataset(const std::string& root, const ImageFolderOptions& options);

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  ImageShape image_shape() const override { return ImageShape{size_, size_, 3}; }
  int32_t num_classes() const override { return static_cast<int32_t>(classes_.size()); }
  ImageBatch read(const std::vector<int64_t>& indices) override;
  std::vector<int32_t> labels() override { return labels_; }
  std::vector<std::string> class_names() const override { return classes_; }

  const std::string& file(int64_t i) const { return files_.at(static_cast<size_t>(i)); }

 private:
  void scan(const std::string& root, const std::vector<std::string>& classes);
  void add_class_files(const std::string& dir, int32_t label);

  int64_t size_ = 0, resize_ = 0;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;  // every image, class by class
  std::vector<int32_t> labels_;     // [size()]
};

// Whether `path` names a directory (an image folder rather than an IDX or HDF5 file).
bool is_image_folder(const std::string& path);

// Whether the name ends as an image file's does (.png/.jpg/.jpeg, or a format torchvision reads and we
// refuse), case-insensitively.
bool has_image_extension(const std::string& path);

// Every PNG/JPEG file under `dir`, listed as one class folder is above (recursive, by directory then
// name). InputError naming the path for another image format or a file system error.
std::vector<std::string> list_image_files(const std::string& dir);

// `files` decoded (OpenMP threads, one file each), turned RGB and cut with transforms.Resize(resize) +
// transforms.CenterCrop(size) as above: u8 [N, size, size, 3]. InputError naming the first bad file.
Tensor read_image_files(const std::vector<std::string>& files, int64_t resize, int64_t size);

}  // namespace temper
