// Image data on the CPU: IDX (raw and gzip) and HDF5 datasets written here into a temp dir and read
// back, rank shards, corrupt files (each an InputError naming the file and the field), and the
// image transforms against hand-computed values (bilinear resize against torch's known output).
#include <gtest/gtest.h>
#ifdef TEMPER_WITH_ZLIB
#include <zlib.h>
#endif
#ifdef TEMPER_WITH_HDF5
#include <hdf5.h>
#endif

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "runtime/data/hdf5_dataset.h"
#include "runtime/data/idx_dataset.h"
#include "tests/idx_test_files.h"
#include "runtime/data/image_transforms.h"
#include "runtime/data/rank_slice.h"
#include "runtime/error.h"

namespace fs = std::filesystem;
using namespace temper;
using test::idx_bytes;
using test::write_raw;

namespace {

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / "temper_test_image_data";
  fs::create_directories(dir);
  return dir;
}


#ifdef TEMPER_WITH_ZLIB
void write_gzip(const fs::path& p, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}
#endif

// 5 images of 3 x 4: pixel p of image i is 16 * i + p; label of image i is i % 3.
constexpr uint32_t kN = 5, kH = 3, kW = 4;
std::vector<uint8_t> test_pixels() {
  std::vector<uint8_t> px(kN * kH * kW);
  for (uint32_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(16 * (i / (kH * kW)) + i % (kH * kW));
  return px;
}
std::vector<uint8_t> test_labels(uint32_t n = kN) {
  std::vector<uint8_t> l(n);
  for (uint32_t i = 0; i < n; ++i) l[i] = static_cast<uint8_t>(i % 3);
  return l;
}

// Checks batch row r holds image `index` of the pattern above (pixels and label).
void expect_row(const ImageBatch& b, int64_t r, int64_t index, int64_t row_elems) {
  for (int64_t p = 0; p < row_elems; ++p) {
    ASSERT_EQ(b.images.data<uint8_t>()[r * row_elems + p], 16 * index + p) << "row " << r << " pixel " << p;
  }
  EXPECT_EQ(b.labels.data<int32_t>()[r], index % 3) << "row " << r;
}

// Runs f, expects an InputError naming `file` and `field`.
void expect_input_error(const std::function<void()>& f, const fs::path& file, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "no InputError for " << file << " / " << field;
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), file.string()) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.filename().string()), std::string::npos) << e.what();
  }
}

}  // namespace

// ---- IDX ----------------------------------------------------------------------------------------

TEST(IdxDataset, RawFilesReadBack) {
  const fs::path dir = temp_dir(), im = dir / "raw-images-idx3-ubyte", lb = dir / "raw-labels-idx1-ubyte";
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, test_pixels()));
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  IdxDataset ds(im.string(), lb.string());
  EXPECT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.image_shape().h, 3);
  EXPECT_EQ(ds.image_shape().w, 4);
  EXPECT_EQ(ds.image_shape().c, 1);
  EXPECT_EQ(ds.num_classes(), 3);
  const std::vector<int64_t> idx = {4, 0, 2, 2};
  const ImageBatch b = ds.read(idx);
  EXPECT_EQ(b.images.shape(), (Shape{4, 3, 4, 1}));
  EXPECT_EQ(b.images.dtype(), DType::U8);
  EXPECT_EQ(b.labels.shape(), (Shape{4}));
  for (size_t r = 0; r < idx.size(); ++r) expect_row(b, r, idx[r], kH * kW);
  EXPECT_THROW(ds.read({5}), Error);
}

TEST(IdxDataset, NumClassesOptionAndShard) {
  const fs::path dir = temp_dir(), im = dir / "shard-images", lb = dir / "shard-labels";
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, test_pixels()));
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  IdxDataset ds(im.string(), lb.string(), IdxOptions{10});
  EXPECT_EQ(ds.num_classes(), 10);
  const std::vector<int64_t> rows = eval_rank_slice(ds.size(), 0, ds.size(), 1, 2);
  ASSERT_EQ(rows, (std::vector<int64_t>{1, 3}));
  const ImageBatch b = ds.read(rows);
  expect_row(b, 0, 1, kH * kW);
  expect_row(b, 1, 3, kH * kW);
}

#ifdef TEMPER_WITH_ZLIB
TEST(IdxDataset, GzipFilesReadBack) {
  const fs::path dir = temp_dir(), im = dir / "images-idx3-ubyte.gz", lb = dir / "labels-idx1-ubyte.gz";
  write_gzip(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, test_pixels()));
  write_gzip(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  IdxDataset ds(im.string(), lb.string());
  const ImageBatch b = ds.read({3, 1});
  expect_row(b, 0, 3, kH * kW);
  expect_row(b, 1, 1, kH * kW);
}

TEST(IdxDataset, GzipEndingEarlyOrLyingIsAnInputError) {
  const fs::path dir = temp_dir(), im = dir / "short-images.gz", lb = dir / "short-labels.gz";
  write_gzip(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  std::vector<uint8_t> px = test_pixels();
  px.resize(px.size() - 7);  // a complete gzip stream holding too few bytes
  write_gzip(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, px));
  expect_input_error([&] { IdxDataset(im.string(), lb.string()); }, im, "data");
  // A valid stream cut short (the compressed file truncated).
  write_gzip(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, test_pixels()));
  fs::resize_file(im, fs::file_size(im) - 12);
  expect_input_error([&] { IdxDataset(im.string(), lb.string()); }, im, "data");
  // A header claiming far more than any deflate stream of this size can hold.
  write_gzip(im, idx_bytes(kIdxImagesMagic, {60000, 1000, 1000}, test_pixels()));
  expect_input_error([&] { IdxDataset(im.string(), lb.string()); }, im, "size");
}
#endif

#ifndef TEMPER_WITH_ZLIB
TEST(IdxDataset, GzipRefusedWithoutZlib) {
  const fs::path dir = temp_dir(), im = dir / "nozlib-images.gz", lb = dir / "nozlib-labels";
  write_raw(im, {0x1f, 0x8b, 8, 0, 0, 0, 0, 0});
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  expect_input_error([&] { IdxDataset(im.string(), lb.string()); }, im, "file");
}
#endif

TEST(IdxDataset, CorruptFilesAreInputErrors) {
  const fs::path dir = temp_dir(), im = dir / "bad-images", lb = dir / "bad-labels";
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  auto open = [&] { IdxDataset(im.string(), lb.string()); };
  write_raw(im, idx_bytes(0x00000804, {kN, kH, kW, 1}, test_pixels()));
  expect_input_error(open, im, "magic");
  write_raw(im, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));  // a labels file given as images
  expect_input_error(open, im, "magic");
  write_raw(im, {0, 0, 8});
  expect_input_error(open, im, "magic");
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH}, {}));  // ends inside the header
  expect_input_error(open, im, "header");
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, 0, kW}, {}));
  expect_input_error(open, im, "dimensions");
  std::vector<uint8_t> px = test_pixels();
  px.pop_back();  // truncated
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, px));
  expect_input_error(open, im, "size");
  px.push_back(1);
  px.push_back(2);  // one byte too many
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, px));
  expect_input_error(open, im, "data");
  write_raw(im, idx_bytes(kIdxImagesMagic, {0x7fffffffu, 0x7fffffffu, 0x7fffffffu}, {}));  // no 2^93-byte buffer
  expect_input_error(open, im, "size");
  write_raw(im, idx_bytes(kIdxImagesMagic, {0xffffffffu, 1, 1}, {}));
  expect_input_error(open, im, "dimensions");
  expect_input_error([&] { IdxDataset((dir / "missing").string(), lb.string()); }, dir / "missing", "file");
}

TEST(IdxDataset, CountsAndLabelRangeAreChecked) {
  const fs::path dir = temp_dir(), im = dir / "cnt-images", lb = dir / "cnt-labels";
  write_raw(im, idx_bytes(kIdxImagesMagic, {kN, kH, kW}, test_pixels()));
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN - 1}, test_labels(kN - 1)));
  expect_input_error([&] { IdxDataset(im.string(), lb.string()); }, lb, "count");
  write_raw(lb, idx_bytes(kIdxLabelsMagic, {kN}, test_labels()));
  expect_input_error([&] { IdxDataset(im.string(), lb.string(), IdxOptions{2}); }, lb, "label");
}

// The real files of Debian's dataset-fashion-mnist when present (TEMPER_FASHION_MNIST_DIR overrides
// the package's directory); skipped otherwise.
TEST(IdxDataset, FashionMnistWhenInstalled) {
  const char* env = std::getenv("TEMPER_FASHION_MNIST_DIR");
  const fs::path dir = env ? env : "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST in " << dir;
  IdxDataset ds((dir / "t10k-images-idx3-ubyte.gz").string(), (dir / "t10k-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(ds.size(), 10000);
  EXPECT_EQ(ds.image_shape().h, 28);
  EXPECT_EQ(ds.image_shape().w, 28);
  EXPECT_EQ(ds.num_classes(), 10);
  const ImageBatch b = ds.read({0, 1, 2, 3, 4});
  EXPECT_EQ(std::vector<int32_t>(b.labels.data<int32_t>(), b.labels.data<int32_t>() + 5),
            (std::vector<int32_t>{9, 2, 1, 1, 6}));  // as Python's gzip + IDX parsing reads them
  int64_t sum = 0;
  for (int p = 0; p < 784; ++p) sum += b.images.data<uint8_t>()[p];
  EXPECT_EQ(sum, 33456);
}

// ---- HDF5 ---------------------------------------------------------------------------------------

#ifdef TEMPER_WITH_HDF5
namespace {

struct H5Spec {
  std::string name;
  hid_t type;  // file and memory type (a native type)
  std::vector<hsize_t> dims;
  const void* data;
  bool row_chunks_deflate = false;  // one chunk per row, deflate-compressed
};

void write_h5(const fs::path& p, const std::vector<H5Spec>& sets) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const H5Spec& s : sets) {
    const hid_t space = H5Screate_simple(static_cast<int>(s.dims.size()), s.dims.data(), nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (s.row_chunks_deflate) {
      std::vector<hsize_t> chunk(s.dims);
      chunk[0] = 1;
      H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
      H5Pset_deflate(dcpl, 6);
    }
    const hid_t d = H5Dcreate2(f, s.name.c_str(), s.type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    ASSERT_GE(H5Dwrite(d, s.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  H5Fclose(f);
}

// File offset and size of the chunk holding row `row` of a row-chunked dataset.
std::pair<haddr_t, hsize_t> chunk_location(const fs::path& p, const std::string& name, hsize_t row, int rank) {
  const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  std::vector<hsize_t> offset(rank, 0);
  offset[0] = row;
  unsigned mask = 0;
  haddr_t addr = 0;
  hsize_t size = 0;
  EXPECT_GE(H5Dget_chunk_info_by_coord(d, offset.data(), &mask, &addr, &size), 0);
  H5Dclose(d);
  H5Fclose(f);
  return {addr, size};
}

// 7 images of 2 x 3 x 2 (NHWC): element p of image i is 16 * i + p; label i % 3.
constexpr hsize_t kHn = 7, kHh = 2, kHw = 3, kHc = 2;
std::vector<uint8_t> h5_pixels() {
  std::vector<uint8_t> px(kHn * kHh * kHw * kHc);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>(16 * (i / (kHh * kHw * kHc)) + i % (kHh * kHw * kHc));
  return px;
}
template <class T>
std::vector<T> h5_labels() {
  std::vector<T> l(kHn);
  for (size_t i = 0; i < kHn; ++i) l[i] = static_cast<T>(i % 3);
  return l;
}

}  // namespace

TEST(Hdf5Dataset, NhwcWithCustomNamesInOneFile) {
  const fs::path p = temp_dir() / "pcam_like.h5";
  const auto px = h5_pixels();
  const auto lab = h5_labels<int16_t>();
  write_h5(p, {{"x", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data()},
               {"y", H5T_NATIVE_INT16, {kHn, 1, 1, 1}, lab.data()}});  // PatchCamelyon's label layout
  Hdf5Dataset ds(p.string(), p.string(), Hdf5Options{"x", "y", 0});
  EXPECT_EQ(ds.size(), 7);
  EXPECT_EQ(ds.image_shape().h, 2);
  EXPECT_EQ(ds.image_shape().w, 3);
  EXPECT_EQ(ds.image_shape().c, 2);
  EXPECT_EQ(ds.num_classes(), 3);
  const std::vector<int64_t> idx = {6, 1, 1, 3, 0};
  const ImageBatch b = ds.read(idx);
  EXPECT_EQ(b.images.shape(), (Shape{5, 2, 3, 2}));
  for (size_t r = 0; r < idx.size(); ++r) expect_row(b, r, idx[r], kHh * kHw * kHc);
}

TEST(Hdf5Dataset, GreyImagesAndLabelsInSeparateFiles) {
  const fs::path im = temp_dir() / "grey_x.h5", lb = temp_dir() / "grey_y.h5";
  const auto px = h5_pixels();  // read as 7 x 2 x 6 grey images
  const auto lab = h5_labels<int64_t>();
  write_h5(im, {{"images", H5T_NATIVE_UINT8, {kHn, kHh, kHw * kHc}, px.data()}});
  write_h5(lb, {{"labels", H5T_NATIVE_INT64, {kHn}, lab.data()}});
  Hdf5Dataset ds(im.string(), lb.string(), Hdf5Options{"images", "labels", 5});
  EXPECT_EQ(ds.image_shape().c, 1);
  EXPECT_EQ(ds.num_classes(), 5);
  const ImageBatch b = ds.read({2, 5});
  expect_row(b, 0, 2, kHh * kHw * kHc);
  expect_row(b, 1, 5, kHh * kHw * kHc);
}

// Rows outside the shard are never read: their compressed chunk is overwritten with garbage, which
// any read touching it would fail to inflate.
TEST(Hdf5Dataset, ShardReadsOnlyItsRows) {
  const fs::path p = temp_dir() / "shard.h5";
  const auto px = h5_pixels();
  const auto lab = h5_labels<uint8_t>();
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data(), true},
               {"labels", H5T_NATIVE_UINT8, {kHn}, lab.data()}});
  for (hsize_t row : {0, 2}) {  // rank 0's rows of 3 are 0, 3, 6; rank 1's 1, 4; rank 2's 2, 5
    const auto [addr, size] = chunk_location(p, "images", row, 4);
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(addr));
    f << std::string(size, '\xff');
  }
  Hdf5Dataset ds(p.string(), p.string());
  const std::vector<int64_t> rows = eval_rank_slice(ds.size(), 0, ds.size(), 1, 3);
  ASSERT_EQ(rows, (std::vector<int64_t>{1, 4}));
  const ImageBatch b = ds.read(rows);
  expect_row(b, 0, 1, kHh * kHw * kHc);
  expect_row(b, 1, 4, kHh * kHw * kHc);
  expect_input_error([&] { ds.read({3, 2}); }, p, "images");  // the guard itself: a corrupt row fails
}

TEST(Hdf5Dataset, BadDatasetsAreInputErrors) {
  const fs::path p = temp_dir() / "bad.h5", lb = temp_dir() / "bad_labels.h5";
  const auto px = h5_pixels();
  const auto lab = h5_labels<int32_t>();
  const std::vector<float> fpx(px.begin(), px.end());
  const std::vector<int8_t> spx(px.begin(), px.end());
  const std::vector<float> flab(lab.begin(), lab.end());
  write_h5(lb, {{"labels", H5T_NATIVE_INT32, {kHn}, lab.data()}});
  auto open = [&] { Hdf5Dataset(p.string(), lb.string()); };
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn, kHh * kHw * kHc}, px.data()}});
  expect_input_error(open, p, "images rank");
  write_h5(p, {{"images", H5T_NATIVE_FLOAT, {kHn, kHh, kHw, kHc}, fpx.data()}});
  expect_input_error(open, p, "images type");
  write_h5(p, {{"images", H5T_NATIVE_INT8, {kHn, kHh, kHw, kHc}, spx.data()}});
  expect_input_error(open, p, "images type");
  write_h5(p, {{"pixels", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data()}});
  expect_input_error(open, p, "images");
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn - 1, kHh, kHw, kHc}, px.data()}});
  expect_input_error(open, lb, "labels count");
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data()}});
  write_h5(lb, {{"labels", H5T_NATIVE_FLOAT, {kHn}, flab.data()}});
  expect_input_error(open, lb, "labels type");
  write_h5(lb, {{"labels", H5T_NATIVE_INT32, {kHn, 1, 1}, lab.data()}});
  Hdf5Dataset(p.string(), lb.string());  // N x 1 x 1 is accepted
  write_h5(lb, {{"labels", H5T_NATIVE_INT32, {1, kHn}, lab.data()}});
  expect_input_error(open, lb, "labels rank");
  std::ofstream(lb) << "not an HDF5 file";
  expect_input_error(open, lb, "file");
}

TEST(Hdf5Dataset, LabelValuesAreChecked) {
  const fs::path p = temp_dir() / "labels_range.h5";
  const auto px = h5_pixels();
  auto lab = h5_labels<int32_t>();
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data()},
               {"labels", H5T_NATIVE_INT32, {kHn}, lab.data()}});
  {
    Hdf5Dataset two(p.string(), p.string(), Hdf5Options{"images", "labels", 2});
    EXPECT_NO_THROW(two.read({0, 1, 3}));
    expect_input_error([&] { two.read({2}); }, p, "label");  // label 2 >= num_classes
  }
  lab[4] = -1;
  write_h5(p, {{"images", H5T_NATIVE_UINT8, {kHn, kHh, kHw, kHc}, px.data()},
               {"labels", H5T_NATIVE_INT32, {kHn}, lab.data()}});
  expect_input_error([&] { Hdf5Dataset(p.string(), p.string()); }, p, "label");  // found by the scan
}
#endif  // TEMPER_WITH_HDF5

// ---- transforms ---------------------------------------------------------------------------------

namespace {
std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }
}  // namespace

TEST(ImageTransforms, ToFloatAndGreyToRgb) {
  Tensor u8 = Tensor::empty({1, 1, 2, 1}, DType::U8);
  u8.data<uint8_t>()[0] = 255;
  u8.data<uint8_t>()[1] = 51;
  const Tensor f = to_float(u8);
  EXPECT_EQ(values(f), (std::vector<float>{1.f, 0.2f}));
  const Tensor rgb = grey_to_rgb(f);
  EXPECT_EQ(rgb.shape(), (Shape{1, 1, 2, 3}));
  EXPECT_EQ(values(rgb), (std::vector<float>{1.f, 1.f, 1.f, 0.2f, 0.2f, 0.2f}));
}

// torch: F.interpolate(torch.arange(4.).view(1, 1, 2, 2), size=(4, 4), mode="bilinear",
// align_corners=False) -- each row follows the [0, .25, .75, 1] pattern between its end values.
TEST(ImageTransforms, ResizeBilinearMatchesTorch) {
  const Tensor x = Tensor::from_f32({0, 0, 1, 10, 2, 20, 3, 30}, {1, 2, 2, 2});  // channel 1 = 10 x channel 0
  const Tensor y = resize_bilinear(x, 4, 4);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 4, 2}));
  const std::vector<float> torch_out = {0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5,
                                        1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0};
  for (int i = 0; i < 16; ++i) {
    EXPECT_FLOAT_EQ(y.data<float>()[2 * i], torch_out[i]) << i;
    EXPECT_FLOAT_EQ(y.data<float>()[2 * i + 1], 10 * torch_out[i]) << i;
  }
  // Downscaling 4 -> 2 (no antialias) averages neighbour pairs: src = 0.5 and 2.5.
  const Tensor z = resize_bilinear(Tensor::from_f32({0, 1, 2, 3}, {1, 1, 4, 1}), 1, 2);
  EXPECT_EQ(values(z), (std::vector<float>{0.5f, 2.5f}));
  // Same size is the identity.
  EXPECT_EQ(values(resize_bilinear(x, 2, 2)), values(x));
}

TEST(ImageTransforms, CropWithPadding) {
  const Tensor x = Tensor::from_f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  EXPECT_EQ(values(crop_padded(x, 3, 3, 1, {0}, {0})), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
  EXPECT_EQ(values(crop_padded(x, 3, 3, 1, {2}, {1})), (std::vector<float>{4, 5, 6, 7, 8, 9, 0, 0, 0}));
  EXPECT_EQ(values(crop_padded(x, 2, 2, 0, {1}, {0})), (std::vector<float>{4, 5, 7, 8}));
  EXPECT_THROW(crop_padded(x, 3, 3, 1, {0}, {3}), Error);  // window leaves the padded image
}

TEST(ImageTransforms, RandomCropIsSeededAndInRange) {
  const int64_t n = 16;
  Tensor x = Tensor::empty({n, 4, 5, 2}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i + 1);
  std::mt19937_64 a(7), b(7);
  const Tensor ya = random_crop(x, 4, 5, 2, a), yb = random_crop(x, 4, 5, 2, b);
  EXPECT_EQ(values(ya), values(yb));
  // Every image equals the crop at one offset in [0, 4] x [0, 4], and the offsets vary.
  std::vector<int> seen(25, 0);
  const int64_t img = 4 * 5 * 2;
  for (int64_t k = 0; k < n; ++k) {
    const Tensor one = x.slice_flat(k * img, {1, 4, 5, 2});
    const std::vector<float> got(ya.data<float>() + k * img, ya.data<float>() + (k + 1) * img);
    int found = -1;
    for (int t = 0; t <= 4 && found < 0; ++t) {
      for (int l = 0; l <= 4 && found < 0; ++l) {
        if (values(crop_padded(one, 4, 5, 2, {t}, {l})) == got) found = 5 * t + l;
      }
    }
    ASSERT_GE(found, 0) << "image " << k;
    seen[found] = 1;
  }
  EXPECT_GT(std::count(seen.begin(), seen.end(), 1), 3);
}

TEST(ImageTransforms, FlipHorizontal) {
  const Tensor x = Tensor::from_f32({1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60}, {2, 1, 3, 2});
  const Tensor y = flip_horizontal(x, {1, 0});
  EXPECT_EQ(values(y), (std::vector<float>{3, 30, 2, 20, 1, 10, 4, 40, 5, 50, 6, 60}));
  std::mt19937_64 rng(3);
  EXPECT_EQ(values(random_hflip(x, 0.0, rng)), values(x));
  EXPECT_EQ(values(random_hflip(x, 1.0, rng)), values(flip_horizontal(x, {1, 1})));
  // p = 0.5 over 64 one-pixel-wide-or-more images: both outcomes occur, and a seed repeats them.
  Tensor many = Tensor::empty({64, 1, 2, 1}, DType::F32);
  for (int64_t i = 0; i < 64; ++i) many.data<float>()[2 * i] = 0, many.data<float>()[2 * i + 1] = 1;
  std::mt19937_64 r1(11), r2(11);
  const Tensor f1 = random_hflip(many, 0.5, r1), f2 = random_hflip(many, 0.5, r2);
  EXPECT_EQ(values(f1), values(f2));
  int flipped = 0;
  for (int64_t i = 0; i < 64; ++i) flipped += f1.data<float>()[2 * i] == 1.f;
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
}

TEST(ImageTransforms, NormalizePerChannel) {
  const Tensor x = Tensor::from_f32({1.0f, 0.5f, 0.0f, 1.0f}, {1, 1, 2, 2});
  normalize_(x, {0.5f, 0.25f}, {0.25f, 0.5f});
  EXPECT_EQ(values(x), (std::vector<float>{2.0f, 0.5f, -2.0f, 1.5f}));
  try {
    normalize_(x, {0.5f, 0.5f}, {0.25f, 0.f});
    ADD_FAILURE() << "std 0 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "std");
  }
  EXPECT_THROW(normalize_(x, {0.5f}, {0.25f}), InputError);
}

// The Fashion-MNIST pipeline's shapes: 28 x 28 grey -> 32 x 32 RGB, normalised.
TEST(ImageTransforms, GreyPipelineShapes) {
  Tensor u8 = Tensor::zeros({2, 28, 28, 1}, DType::U8);
  u8.data<uint8_t>()[0] = 255;
  std::mt19937_64 rng(1);
  Tensor x = random_hflip(random_crop(grey_to_rgb(resize_bilinear(to_float(u8), 32, 32)), 32, 32, 4, rng), 0.5, rng);
  normalize_(x, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
  EXPECT_EQ(x.shape(), (Shape{2, 32, 32, 3}));
}
