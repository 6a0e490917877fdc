// ImageLoader: option checks, the transform chain and per-image seeded augmentation of the rows its
// RowCursor hands out (see image_loader.h).
#include "runtime/data/image_loader.h"

#include <random>
#include <utility>

#include "runtime/data/image_transforms.h"
#include "runtime/error.h"

namespace temper {
namespace {

// Names the loader in InputErrors: the options come from the config, not from the data file.
const char* const kSource = "image loader";

// splitmix64 finalizer: decorrelates nearby (seed, epoch, row) triples before seeding the engine.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// One image's augmentation generator: a function of (seed, epoch, row) only.
std::mt19937_64 image_rng(uint64_t seed, uint64_t epoch, int64_t row) {
  return std::mt19937_64(mix64(mix64(seed ^ mix64(epoch)) ^ static_cast<uint64_t>(row)));
}

// Uniform integer in [0, hi] and a coin with P(true) = p, drawn with plain arithmetic as in
// image_transforms.cpp so the result is the same with every standard library.
int64_t draw_upto(std::mt19937_64& rng, int64_t hi) { return static_cast<int64_t>(rng() % uint64_t(hi + 1)); }
bool draw_coin(std::mt19937_64& rng, double p) { return static_cast<double>(rng() >> 11) * 0x1.0p-53 < p; }

const std::unique_ptr<ImageDataset>& checked(const std::unique_ptr<ImageDataset>& data) {
  TEMPER_CHECK(data != nullptr, "ImageLoader: no dataset");
  return data;
}

}  // namespace

ImageLoader::ImageLoader(std::unique_ptr<ImageDataset> data, const LoaderOptions& options,
                         const ImageTransformOptions& transforms)
    : data_(std::move(data)), tf_(transforms), cursor_(checked(data_)->size(), options, kSource, "images") {
  check_options();
  const ImageShape in = data_->image_shape();
  const bool resize = tf_.out_h > 0;
  out_shape_ =
      ImageShape{resize ? tf_.out_h : in.h, resize ? tf_.out_w : in.w, tf_.channels == ChannelMode::ToRgb ? 3 : in.c};
}

void ImageLoader::check_options() const {
  const ImageShape in = data_->image_shape();
  TEMPER_INPUT_CHECK((tf_.out_h == 0 && tf_.out_w == 0) || (tf_.out_h >= 1 && tf_.out_w >= 1), kSource, "out_h/out_w",
                     "{}x{}: both must be >= 1, or both 0 to keep the data set's size", tf_.out_h, tf_.out_w);
  TEMPER_INPUT_CHECK(tf_.channels == ChannelMode::Keep || in.c == 1 || in.c == 3, kSource, "channels",
                     "RGB output needs grey (C = 1) or RGB (C = 3) images, the data set has C = {}", in.c);
  TEMPER_INPUT_CHECK(tf_.crop_padding >= 0, kSource, "crop_padding", "{} must be >= 0", tf_.crop_padding);
  TEMPER_INPUT_CHECK(tf_.hflip_p >= 0.0 && tf_.hflip_p <= 1.0, kSource, "hflip_p", "{} must lie in [0, 1]",
                     tf_.hflip_p);
  const int64_t c = tf_.channels == ChannelMode::ToRgb ? 3 : in.c;
  const bool none = tf_.mean.empty() && tf_.std.empty();
  TEMPER_INPUT_CHECK(none || (static_cast<int64_t>(tf_.mean.size()) == c && static_cast<int64_t>(tf_.std.size()) == c),
                     kSource, "mean/std", "{} means and {} stds for {} output channels", tf_.mean.size(),
                     tf_.std.size(), c);
  for (size_t i = 0; i < tf_.std.size(); ++i)
    TEMPER_INPUT_CHECK(tf_.std[i] > 0.f, kSource, "std", "std[{}] = {} must be > 0", i, tf_.std[i]);
}

bool ImageLoader::next(ImageLoaderBatch& out) {
  const RowCursor::Rows r = cursor_.next();
  if (r.rows.empty()) return false;  // the eval pass is over
  out = make_batch(r.rows, r.epoch);
  return true;
}

ImageLoaderBatch ImageLoader::make_batch(const std::vector<int64_t>& rows, uint64_t epoch) {
  ImageBatch raw = data_->read(rows);
  Tensor x = to_float(raw.images);
  if (x.dim(1) != out_shape_.h || x.dim(2) != out_shape_.w) x = resize_bilinear(x, out_shape_.h, out_shape_.w);
  if (x.dim(3) != out_shape_.c) x = grey_to_rgb(x);
  if (cursor_.options().mode == LoaderMode::Train) x = augment(x, rows, epoch);
  if (!tf_.mean.empty()) normalize_(x, tf_.mean, tf_.std);
  return ImageLoaderBatch{x, raw.labels, epoch};
}

// Crop offsets and flip coins for each image from its own (seed, epoch, row) generator: always the
// same three draws in the same order, so turning one augmentation off leaves the other unchanged.
Tensor ImageLoader::augment(const Tensor& x, const std::vector<int64_t>& rows, uint64_t epoch) const {
  if (tf_.crop_padding == 0 && tf_.hflip_p == 0.0) return x;
  const int64_t span = 2 * tf_.crop_padding;  // the output keeps the input's size, so the crop slack is 2p
  std::vector<int64_t> tops(rows.size()), lefts(rows.size());
  std::vector<uint8_t> flip(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    std::mt19937_64 rng = image_rng(cursor_.options().seed, epoch, rows[i]);
    tops[i] = draw_upto(rng, span);
    lefts[i] = draw_upto(rng, span);
    flip[i] = draw_coin(rng, tf_.hflip_p);
  }
  Tensor y = tf_.crop_padding > 0 ? crop_padded(x, x.dim(1), x.dim(2), tf_.crop_padding, tops, lefts) : x;
  return tf_.hflip_p > 0.0 ? flip_horizontal(y, flip) : y;
}

}  // namespace temper
