// ImageFolderDataset: the directory walk that lists images and classes, and the parallel decode of a
// batch (see image_folder_dataset.h).
#include "runtime/data/image_folder_dataset.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <filesystem>
#include <set>
#include <utility>

#include "runtime/data/image_decoder.h"
#include "runtime/data/image_resample.h"
#include "runtime/error.h"

namespace fs = std::filesystem;

namespace temper {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

enum class FileKind { Image, OtherImageFormat, NotImage };

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// By the name's ending, case-insensitively, as torchvision matches IMG_EXTENSIONS; the formats it
// would read and we do not are refused rather than skipped, anything else is not an image.
FileKind file_kind(const fs::path& p) {
  const std::string name = lower(p.filename().string());
  for (const char* ext : {".png", ".jpg", ".jpeg"})
    if (ends_with(name, ext)) return FileKind::Image;
  for (const char* ext : {".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
    if (ends_with(name, ext)) return FileKind::OtherImageFormat;
  return FileKind::NotImage;
}

// The entries of `dir`, sorted by name (the walk below must not depend on the file system's order).
std::vector<fs::directory_entry> sorted_entries(const fs::path& dir) {
  std::vector<fs::directory_entry> v{fs::directory_iterator(dir), fs::directory_iterator()};
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return v;
}

std::vector<std::string> sorted_subdirectories(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& e : sorted_entries(dir))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  return names;
}

// Every image file under `dir` as (directory, name): a depth-first walk in name order, following
// directory links but entering each directory once (the first alias in that order).
std::vector<std::pair<std::string, std::string>> walk_images(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;
  std::set<fs::path> seen;
  std::vector<fs::path> todo = {dir};
  while (!todo.empty()) {
    const fs::path d = todo.back();
    todo.pop_back();
    if (!seen.insert(fs::canonical(d)).second) continue;
    const std::vector<fs::directory_entry> entries = sorted_entries(d);
    for (auto e = entries.rbegin(); e != entries.rend(); ++e)  // reversed: popped in name order
      if (e->is_directory()) todo.push_back(e->path());
    for (const fs::directory_entry& e : entries) {
      if (e.is_directory()) continue;
      const FileKind kind = file_kind(e.path());
      TEMPER_INPUT_CHECK(kind != FileKind::OtherImageFormat, e.path().string(), "format",
                         "unsupported image format (PNG and JPEG are read)");
      if (kind == FileKind::Image && e.is_regular_file()) found.emplace_back(d.string(), e.path().filename().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

bool is_image_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool has_image_extension(const std::string& path) { return file_kind(fs::path(path)) != FileKind::NotImage; }

std::vector<std::string> list_image_files(const std::string& dir) {
  try {
    std::vector<std::string> files;
    for (const auto& [d, name] : walk_images(dir)) files.push_back((fs::path(d) / name).string());
    return files;
  } catch (const fs::filesystem_error& e) {
    throw InputError(e.path1().empty() ? dir : e.path1().string(), "path", e.code().message());
  }
}

Tensor read_image_files(const std::vector<std::string>& files, int64_t resize, int64_t size) {
  const int64_t n = static_cast<int64_t>(files.size()), bytes = size * size * 3;
  Tensor out = Tensor::empty({n, size, size, 3}, DType::U8);
  std::vector<std::exception_ptr> errors(files.size());
  uint8_t* px = out.data<uint8_t>();
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const RgbImage img = resize_shorter_center_crop(decode_image_file(files[size_t(i)]), resize, size);
      std::memcpy(px + i * bytes, img.pixels.data(), static_cast<size_t>(bytes));
    } catch (...) {
      errors[static_cast<size_t>(i)] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, const ImageFolderOptions& options)
    : size_(options.size), resize_(options.resize > 0 ? options.resize : options.size) {
  try {
    scan(root, options.classes);
  } catch (const fs::filesystem_error& e) {  // unreadable directory, a link loop: name the path
    throw InputError(e.path1().empty() ? root : e.path1().string(), "path", e.code().message());
  }
}

void ImageFolderDataset::scan(const std::string& root, const std::vector<std::string>& classes) {
  TEMPER_INPUT_CHECK(size_ >= 1 && resize_ >= size_, root, "image size",
                     "crop {} after resizing the shorter side to {}: need 1 <= crop <= resize", size_, resize_);
  TEMPER_INPUT_CHECK(is_image_folder(root), root, "path", "not a directory of class folders");
  const std::vector<std::string> dirs = sorted_subdirectories(root);
  TEMPER_INPUT_CHECK(!dirs.empty(), root, "classes", "no class folders (expected {}/<class>/<image>.png|jpg)", root);
  classes_ = classes.empty() ? dirs : classes;
  for (const std::string& d : dirs) {
    const auto it = std::find(classes_.begin(), classes_.end(), d);
    TEMPER_INPUT_CHECK(it != classes_.end(), (fs::path(root) / d).string(), "class",
                       "'{}' is not one of the {} training classes", d, classes_.size());
    add_class_files((fs::path(root) / d).string(), static_cast<int32_t>(it - classes_.begin()));
  }
}

void ImageFolderDataset::add_class_files(const std::string& dir, int32_t label) {
  const std::vector<std::string> images = list_image_files(dir);
  TEMPER_INPUT_CHECK(!images.empty(), dir, "images", "no .png/.jpg/.jpeg files in this class folder");
  files_.insert(files_.end(), images.begin(), images.end());
  labels_.insert(labels_.end(), images.size(), label);
}

ImageBatch ImageFolderDataset::read(const std::vector<int64_t>& indices) {
  std::vector<std::string> files;
  for (int64_t k : indices) {
    TEMPER_CHECK(k >= 0 && k < size(), "index {} outside [0, {})", k, size());
    files.push_back(file(k));
  }
  ImageBatch out{read_image_files(files, resize_, size_), Tensor::empty({int64_t(indices.size())}, DType::I32)};
  for (size_t i = 0; i < indices.size(); ++i) out.labels.data<int32_t>()[i] = labels_[static_cast<size_t>(indices[i])];
  return out;
}

}  // namespace temper
