// Hdf5Dataset: checks at open, row-selective hyperslab reads (see hdf5_dataset.h).
// A request's rows are sorted, de-duplicated and merged into runs; one hyperslab per run is OR-ed
// into a single file selection, read with one H5Dread (HDF5 returns the rows in file order), then
// scattered back into the request's order.
#ifdef TEMPER_WITH_HDF5
#include "runtime/data/hdf5_dataset.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>

#include "runtime/error.h"

namespace temper {
namespace {

constexpr int64_t kLabelScanBlock = int64_t{1} << 16;  // rows per read when scanning for num_classes

// Owns one HDF5 id and closes it with the matching H5?close.
class H5Id {
 public:
  H5Id() = default;
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Id& operator=(H5Id&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(close_, o.close_);
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// HDF5 prints its error stack to stderr on every failed call; our own InputError says it better.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

H5Id open_file(const std::string& path) {
  H5Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  TEMPER_INPUT_CHECK(f.valid(), path, "file", "cannot open as an HDF5 file");
  return f;
}

H5Id open_dataset(hid_t file, const std::string& path, const std::string& name) {
  TEMPER_INPUT_CHECK(H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0, path, name, "no dataset named '{}'", name);
  H5Id d(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  TEMPER_INPUT_CHECK(d.valid(), path, name, "'{}' is not a dataset", name);
  return d;
}

std::vector<hsize_t> dataset_dims(hid_t dset, const std::string& path, const std::string& name) {
  H5Id space(H5Dget_space(dset), H5Sclose);
  TEMPER_INPUT_CHECK(space.valid() && H5Sis_simple(space.get()) > 0, path, name, "not a simple dataspace");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  TEMPER_INPUT_CHECK(rank >= 1 && rank <= 8, path, name + " rank", "rank {}", rank);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

// Element type: integer; for images also unsigned and one byte.
void check_integer_type(hid_t dset, const std::string& path, const std::string& name, bool must_be_u8) {
  H5Id type(H5Dget_type(dset), H5Tclose);
  TEMPER_INPUT_CHECK(type.valid() && H5Tget_class(type.get()) == H5T_INTEGER, path, name + " type",
                     "'{}' does not hold integers", name);
  if (must_be_u8) {
    TEMPER_INPUT_CHECK(H5Tget_size(type.get()) == 1 && H5Tget_sign(type.get()) == H5T_SGN_NONE, path, name + " type",
                       "'{}' must hold unsigned 8-bit integers ({}-byte, {})", name, H5Tget_size(type.get()),
                       H5Tget_sign(type.get()) == H5T_SGN_NONE ? "unsigned" : "signed");
  }
}

// File selection of `rows` (sorted, unique) of a dataset with extents `dims`, as merged runs.
H5Id select_rows(hid_t dset, const std::vector<hsize_t>& dims, const std::vector<int64_t>& rows) {
  H5Id space(H5Dget_space(dset), H5Sclose);
  TEMPER_CHECK(space.valid(), "H5Dget_space failed");
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  H5Sselect_none(space.get());
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    start[0] = static_cast<hsize_t>(rows[i]);
    count[0] = static_cast<hsize_t>(j - i);
    TEMPER_CHECK(H5Sselect_hyperslab(space.get(), H5S_SELECT_OR, start.data(), nullptr, count.data(), nullptr) >= 0,
                 "H5Sselect_hyperslab failed");
    i = j;
  }
  return space;
}

// Reads `rows` (sorted, unique) of `dset` as `mem_type` into dst (rows.size() * row_elems elements).
void read_rows(hid_t dset, const std::vector<hsize_t>& dims, const std::vector<int64_t>& rows, hid_t mem_type,
               void* dst, const std::string& path, const std::string& name) {
  if (rows.empty()) return;
  hsize_t elems = rows.size();
  for (size_t i = 1; i < dims.size(); ++i) elems *= dims[i];
  H5Id file_space = select_rows(dset, dims, rows);
  H5Id mem_space(H5Screate_simple(1, &elems, nullptr), H5Sclose);
  TEMPER_INPUT_CHECK(H5Dread(dset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, dst) >= 0, path, name,
                     "reading {} rows of '{}' failed (corrupt file?)", rows.size(), name);
}

std::vector<int64_t> sorted_unique(std::vector<int64_t> rows) {
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

}  // namespace

struct Hdf5Dataset::Handles {
  H5Id images_file, labels_file, images, labels;
  std::vector<hsize_t> images_dims, labels_dims;
  std::string images_name, labels_name;  // dataset paths inside the files (error fields)
};

Hdf5Dataset::Hdf5Dataset(const std::string& images_path, const std::string& labels_path, const Hdf5Options& options)
    : h_(std::make_unique<Handles>()), images_path_(images_path), labels_path_(labels_path) {
  QuietHdf5Errors quiet;
  const std::string& in = h_->images_name = options.images_dataset;
  const std::string& ln = h_->labels_name = options.labels_dataset;
  h_->images_file = open_file(images_path);
  h_->labels_file = open_file(labels_path);
  h_->images = open_dataset(h_->images_file.get(), images_path, in);
  h_->labels = open_dataset(h_->labels_file.get(), labels_path, ln);
  check_integer_type(h_->images.get(), images_path, in, true);
  check_integer_type(h_->labels.get(), labels_path, ln, false);
  const auto& id = h_->images_dims = dataset_dims(h_->images.get(), images_path, in);
  const auto& ld = h_->labels_dims = dataset_dims(h_->labels.get(), labels_path, ln);
  TEMPER_INPUT_CHECK(id.size() == 3 || id.size() == 4, images_path, in + " rank",
                     "'{}' has rank {}, expected N x H x W x C or N x H x W", in, id.size());
  for (size_t i = 1; i < ld.size(); ++i) {
    TEMPER_INPUT_CHECK(ld[i] == 1, labels_path, ln + " rank", "'{}' must be N or N x 1 x ... x 1, dimension {} is {}",
                       ln, i, ld[i]);
  }
  TEMPER_INPUT_CHECK(ld[0] == id[0], labels_path, ln + " count", "{} labels in '{}' for the {} images of {}", ld[0], ln,
                     id[0], images_path);
  n_ = static_cast<int64_t>(id[0]);
  shape_ = ImageShape{static_cast<int64_t>(id[1]), static_cast<int64_t>(id[2]),
                      id.size() == 4 ? static_cast<int64_t>(id[3]) : 1};
  TEMPER_INPUT_CHECK(n_ >= 1 && shape_.h >= 1 && shape_.w >= 1 && shape_.c >= 1, images_path, in + " extent",
                     "'{}' is empty ({} x {} x {} x {})", in, n_, shape_.h, shape_.w, shape_.c);
  TEMPER_INPUT_CHECK(options.num_classes >= 0, labels_path, "num_classes", "{} < 0", options.num_classes);
  num_classes_ = options.num_classes > 0 ? options.num_classes : scan_num_classes();
}

Hdf5Dataset::~Hdf5Dataset() = default;

// The labels of rows [begin, begin + kLabelScanBlock) (fewer at the end): the bounded unit in which
// the labels are scanned, never the whole dataset at once.
std::vector<int64_t> Hdf5Dataset::read_label_block(int64_t begin) {
  std::vector<int64_t> rows(std::min(kLabelScanBlock, n_ - begin));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = begin + static_cast<int64_t>(i);
  return read_labels(rows);
}

// The largest label + 1.
int32_t Hdf5Dataset::scan_num_classes() {
  int64_t max_label = -1;
  for (int64_t begin = 0; begin < n_; begin += kLabelScanBlock)
    for (int64_t v : read_label_block(begin)) max_label = std::max(max_label, v);
  TEMPER_INPUT_CHECK(max_label < (int64_t{1} << 24), labels_path_, "label", "largest label {} is implausibly large",
                     max_label);
  return static_cast<int32_t>(max_label + 1);
}

std::vector<int32_t> Hdf5Dataset::labels() {
  QuietHdf5Errors quiet;
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n_));
  for (int64_t begin = 0; begin < n_; begin += kLabelScanBlock)
    for (int64_t v : read_label_block(begin)) out.push_back(static_cast<int32_t>(v));  // checked < num_classes_
  return out;
}

// Labels of `sorted_rows`, checked to be >= 0 (and, once num_classes_ is known, below it).
std::vector<int64_t> Hdf5Dataset::read_labels(const std::vector<int64_t>& sorted_rows) {
  std::vector<int64_t> out(sorted_rows.size());
  read_rows(h_->labels.get(), h_->labels_dims, sorted_rows, H5T_NATIVE_INT64, out.data(), labels_path_,
            h_->labels_name);
  for (size_t i = 0; i < out.size(); ++i) {
    const bool ok = out[i] >= 0 && (num_classes_ == 0 || out[i] < num_classes_);
    TEMPER_INPUT_CHECK(ok, labels_path_, "label", "label {} of row {} is outside [0, {})", out[i], sorted_rows[i],
                       num_classes_ == 0 ? std::string("inf") : std::to_string(num_classes_));
  }
  return out;
}

ImageBatch Hdf5Dataset::read(const std::vector<int64_t>& indices) {
  for (int64_t k : indices) TEMPER_CHECK(k >= 0 && k < n_, "index {} outside [0, {})", k, n_);
  QuietHdf5Errors quiet;
  const std::vector<int64_t> rows = sorted_unique(indices);
  const int64_t row_bytes = shape_.h * shape_.w * shape_.c;
  std::vector<uint8_t> pixels(rows.size() * static_cast<size_t>(row_bytes));
  read_rows(h_->images.get(), h_->images_dims, rows, H5T_NATIVE_UINT8, pixels.data(), images_path_, h_->images_name);
  const std::vector<int64_t> labels = read_labels(rows);
  const int64_t n = static_cast<int64_t>(indices.size());
  ImageBatch out{Tensor::empty({n, shape_.h, shape_.w, shape_.c}, DType::U8), Tensor::empty({n}, DType::I32)};
  for (int64_t i = 0; i < n; ++i) {
    const size_t r = static_cast<size_t>(std::lower_bound(rows.begin(), rows.end(), indices[i]) - rows.begin());
    std::memcpy(out.images.data<uint8_t>() + i * row_bytes, pixels.data() + r * row_bytes, row_bytes);
    out.labels.data<int32_t>()[i] = static_cast<int32_t>(labels[r]);
  }
  return out;
}

}  // namespace temper
#endif  // TEMPER_WITH_HDF5
