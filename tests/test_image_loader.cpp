// ImageLoader on small IDX data sets written to a temp dir: per-rank batches of a 2-rank split equal
// the halves of the 1-rank global batch (augmentation included), a restored state reproduces the next
// batches exactly, eval covers every row once across ranks, the transform chain and train-only
// augmentation, and bad options as InputErrors naming the option.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/data/idx_dataset.h"
#include "tests/idx_test_files.h"
#include "runtime/data/image_loader.h"
#include "runtime/data/image_transforms.h"
#include "runtime/error.h"

namespace fs = std::filesystem;
using namespace temper;
using test::idx_bytes;
using test::write_raw;

namespace {

// 10 grey images of 5 x 6: pixel p of image i is (37 * i + 11 * p) % 256; label of image i is i, so a
// label names its row.
constexpr uint32_t kN = 10, kH = 5, kW = 6;


// Writes the data set once per test (its own directory, so tests may run in parallel).
fs::path data_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::temp_directory_path() / (std::string("temper_test_image_loader_") + info->name());
  fs::create_directories(dir);
  std::vector<uint8_t> px(kN * kH * kW), labels(kN);
  for (uint32_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>((37 * (i / (kH * kW)) + 11 * (i % (kH * kW))) % 256);
  for (uint32_t i = 0; i < kN; ++i) labels[i] = static_cast<uint8_t>(i);
  write_raw(dir / "images", idx_bytes(kIdxImagesMagic, {kN, kH, kW}, px));
  write_raw(dir / "labels", idx_bytes(kIdxLabelsMagic, {kN}, labels));
  return dir;
}

std::unique_ptr<ImageDataset> open_data(const fs::path& dir) {
  return std::make_unique<IdxDataset>((dir / "images").string(), (dir / "labels").string());
}

LoaderOptions loader_opts(int64_t b, LoaderMode mode, int rank = 0, int world = 1) {
  LoaderOptions o;
  o.batch_size = b;
  o.mode = mode;
  o.seed = 1234;
  o.rank = rank;
  o.world_size = world;
  return o;
}

// Every transform on: upsample to 8 x 9, grey -> RGB, crop with padding 2, flip with p = 0.5, normalise.
ImageTransformOptions full_transforms() {
  ImageTransformOptions t;
  t.out_h = 8;
  t.out_w = 9;
  t.channels = ChannelMode::ToRgb;
  t.crop_padding = 2;
  t.hflip_p = 0.5;
  t.mean = {0.5f, 0.4f, 0.3f};
  t.std = {0.2f, 0.25f, 0.3f};
  return t;
}

// Rows [begin, begin + count) of t [N, ...] as floats (or int32 bits for labels).
std::vector<float> rows_f32(const Tensor& t, int64_t begin, int64_t count) {
  const int64_t per = t.numel() / t.dim(0);
  const float* p = t.data<float>() + begin * per;
  return std::vector<float>(p, p + count * per);
}
std::vector<int32_t> rows_i32(const Tensor& t, int64_t begin, int64_t count) {
  const int32_t* p = t.data<int32_t>() + begin;
  return std::vector<int32_t>(p, p + count);
}

void expect_same_batch(const ImageLoaderBatch& a, const ImageLoaderBatch& b) {
  ASSERT_EQ(a.images.shape(), b.images.shape());
  EXPECT_EQ(rows_f32(a.images, 0, a.images.dim(0)), rows_f32(b.images, 0, b.images.dim(0)));
  EXPECT_EQ(rows_i32(a.labels, 0, a.labels.dim(0)), rows_i32(b.labels, 0, b.labels.dim(0)));
  EXPECT_EQ(a.epoch, b.epoch);
}

// Runs f, expects an InputError naming `field`.
template <class F>
void expect_input_error(F f, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "no InputError for " << field;
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

}  // namespace

TEST(ImageLoader, TwoRanksTakeTheHalvesOfTheGlobalBatch) {
  const fs::path dir = data_dir();
  ImageLoader global(open_data(dir), loader_opts(4, LoaderMode::Train), full_transforms());
  ImageLoader r0(open_data(dir), loader_opts(2, LoaderMode::Train, 0, 2), full_transforms());
  ImageLoader r1(open_data(dir), loader_opts(2, LoaderMode::Train, 1, 2), full_transforms());
  EXPECT_EQ(global.batches_per_epoch(), 2);  // 10 images, global batch 4: 2 batches, 2 images dropped
  EXPECT_EQ(r0.batches_per_epoch(), 2);
  const ImageShape s = global.output_shape();
  EXPECT_EQ(s.h, 8);
  EXPECT_EQ(s.w, 9);
  EXPECT_EQ(s.c, 3);
  for (int step = 0; step < 6; ++step) {  // three epochs
    ImageLoaderBatch g, a, b;
    ASSERT_TRUE(global.next(g));
    ASSERT_TRUE(r0.next(a));
    ASSERT_TRUE(r1.next(b));
    ASSERT_EQ(g.images.shape(), (Shape{4, 8, 9, 3}));
    ASSERT_EQ(a.images.shape(), (Shape{2, 8, 9, 3}));
    EXPECT_EQ(g.epoch, static_cast<uint64_t>(step / 2));
    EXPECT_EQ(rows_f32(a.images, 0, 2), rows_f32(g.images, 0, 2)) << "step " << step;
    EXPECT_EQ(rows_f32(b.images, 0, 2), rows_f32(g.images, 2, 2)) << "step " << step;
    EXPECT_EQ(rows_i32(a.labels, 0, 2), rows_i32(g.labels, 0, 2));
    EXPECT_EQ(rows_i32(b.labels, 0, 2), rows_i32(g.labels, 2, 2));
    EXPECT_EQ(a.epoch, g.epoch);
  }
  EXPECT_EQ(r0.state().position, global.state().position);
  EXPECT_EQ(r0.state().epoch, global.state().epoch);
}

TEST(ImageLoader, RestoredStateReproducesTheNextBatches) {
  const fs::path dir = data_dir();
  ImageLoader a(open_data(dir), loader_opts(3, LoaderMode::Train), full_transforms());
  ImageLoaderBatch batch;
  for (int i = 0; i < 4; ++i) a.next(batch);  // 3 batches per epoch: now inside epoch 1
  const LoaderState saved = loader_state_from_json(loader_state_to_json(a.state()), "ckpt.json");
  EXPECT_EQ(saved.epoch, 1u);
  EXPECT_EQ(saved.position, 3);
  std::vector<ImageLoaderBatch> expected(5);
  for (auto& e : expected) a.next(e);
  ImageLoader b(open_data(dir), loader_opts(3, LoaderMode::Train), full_transforms());
  b.restore(saved);
  for (const auto& e : expected) {
    ASSERT_TRUE(b.next(batch));
    expect_same_batch(batch, e);
  }
  // Another seed or data set is refused.
  LoaderState other = saved;
  other.num_windows = 11;
  expect_input_error([&] { b.restore(other); }, "data loader state");
}

TEST(ImageLoader, AugmentationChangesWithTheEpochButNotWithTheBatch) {
  const fs::path dir = data_dir();
  ImageTransformOptions t = full_transforms();
  ImageLoader a(open_data(dir), loader_opts(10, LoaderMode::Train), t);
  ImageLoader b(open_data(dir), loader_opts(5, LoaderMode::Train), t);
  ImageLoaderBatch e0, e1, h0, h1;
  a.next(e0);  // all of epoch 0 in one batch
  a.next(e1);  // all of epoch 1
  b.next(h0);  // epoch 0 in two halves
  b.next(h1);
  EXPECT_EQ(rows_f32(h0.images, 0, 5), rows_f32(e0.images, 0, 5));
  EXPECT_EQ(rows_f32(h1.images, 0, 5), rows_f32(e0.images, 5, 5));
  // Row r's image in epoch 0 vs epoch 1: some must differ (crop offsets / flips redrawn).
  int differing = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const int32_t row = e0.labels.data<int32_t>()[i];
    for (int64_t j = 0; j < 10; ++j)
      if (e1.labels.data<int32_t>()[j] == row) differing += rows_f32(e0.images, i, 1) != rows_f32(e1.images, j, 1);
  }
  EXPECT_GT(differing, 0);
}

TEST(ImageLoader, EvalCoversEveryRowOnceAcrossRanks) {
  const fs::path dir = data_dir();
  std::multiset<int32_t> seen;
  for (int rank = 0; rank < 3; ++rank) {
    ImageLoader l(open_data(dir), loader_opts(2, LoaderMode::Eval, rank, 3), full_transforms());
    int64_t batches = 0;
    ImageLoaderBatch b;
    while (l.next(b)) {
      ++batches;
      for (int64_t i = 0; i < b.labels.dim(0); ++i) {
        const int32_t row = b.labels.data<int32_t>()[i];
        EXPECT_EQ(row % 3, rank);  // rank r owns rows r, r + 3, ...
        seen.insert(row);
      }
    }
    EXPECT_EQ(batches, l.batches_per_epoch()) << "rank " << rank;
    EXPECT_FALSE(l.next(b));
    l.reset();
    ASSERT_TRUE(l.next(b));
    EXPECT_EQ(b.labels.data<int32_t>()[0], rank);
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kN));
  for (int32_t i = 0; i < static_cast<int32_t>(kN); ++i) EXPECT_EQ(seen.count(i), 1u) << "row " << i;
}

TEST(ImageLoader, EvalAppliesTheDeterministicChainOnly) {
  const fs::path dir = data_dir();
  const ImageTransformOptions t = full_transforms();
  ImageLoader l(open_data(dir), loader_opts(4, LoaderMode::Eval), t);
  ImageLoaderBatch b;
  ASSERT_TRUE(l.next(b));
  ImageBatch raw = open_data(dir)->read({0, 1, 2, 3});
  Tensor want = grey_to_rgb(resize_bilinear(to_float(raw.images), 8, 9));
  normalize_(want, t.mean, t.std);
  ASSERT_EQ(b.images.shape(), want.shape());
  EXPECT_EQ(rows_f32(b.images, 0, 4), rows_f32(want, 0, 4));
}

TEST(ImageLoader, TrainFlipWithPOneMirrorsEveryImage) {
  const fs::path dir = data_dir();
  ImageTransformOptions t;
  t.hflip_p = 1.0;
  ImageLoader l(open_data(dir), loader_opts(4, LoaderMode::Train), t);
  ImageLoaderBatch b;
  ASSERT_TRUE(l.next(b));
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 4; ++i) rows.push_back(b.labels.data<int32_t>()[i]);
  const Tensor want = flip_horizontal(to_float(open_data(dir)->read(rows).images), {1, 1, 1, 1});
  ASSERT_EQ(b.images.shape(), (Shape{4, kH, kW, 1}));
  EXPECT_EQ(rows_f32(b.images, 0, 4), rows_f32(want, 0, 4));
}

TEST(ImageLoader, BadOptionsAreInputErrors) {
  const fs::path dir = data_dir();
  auto make = [&](const LoaderOptions& o, const ImageTransformOptions& t) { ImageLoader(open_data(dir), o, t); };
  const LoaderOptions train = loader_opts(2, LoaderMode::Train);
  ImageTransformOptions t;
  t.out_h = 4;  // out_w left 0
  expect_input_error([&] { make(train, t); }, "out_h/out_w");
  t = {};
  t.crop_padding = -1;
  expect_input_error([&] { make(train, t); }, "crop_padding");
  t = {};
  t.hflip_p = 1.5;
  expect_input_error([&] { make(train, t); }, "hflip_p");
  t = {};
  t.channels = ChannelMode::ToRgb;
  t.mean = {0.5f};  // three output channels
  t.std = {0.5f};
  expect_input_error([&] { make(train, t); }, "mean/std");
  t = {};
  t.mean = {0.5f};
  t.std = {0.f};
  expect_input_error([&] { make(train, t); }, "std");
  expect_input_error([&] { make(loader_opts(0, LoaderMode::Train), {}); }, "batch_size");
  expect_input_error([&] { make(loader_opts(6, LoaderMode::Train, 0, 2), {}); }, "batch_size");  // 12 > 10 images
  EXPECT_NO_THROW(make(loader_opts(6, LoaderMode::Eval, 0, 2), {}));  // eval takes any batch size
}
