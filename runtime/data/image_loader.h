// ImageLoader: micro-batches of transformed images (f32 NHWC) and labels from an ImageDataset, with a
// resumable position. The visiting order is RowCursor's, as SequenceLoader's with image rows in place of
// windows:
// Train mode: each epoch is epoch_permutation(n, seed, epoch); a global batch is B x world_size
// consecutive entries of it and rank r takes entries [r*B, (r+1)*B) (rank_slice.h); an incomplete
// last global batch is dropped; epochs follow one another without end.
// Eval mode: one pass in row order; rank r takes rows r, r + world_size, ...; the last batch may be
// smaller; next() returns false at the end (reset() starts over).
// Transforms, in order (image_transforms.h): to_float, bilinear resize to (out_h, out_w), grey -> RGB,
// then in train mode only random crop with zero padding and random horizontal flip, then mean/std
// normalisation. Each image's augmentation comes from its own generator seeded from (seed, epoch,
// dataset row), so it depends neither on the world size, nor the batch size, nor on a resume.
// The position is a LoaderState (num_windows = number of images), saved with the same JSON forms.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/data/image_dataset.h"
#include "runtime/data/row_cursor.h"
#include "runtime/data/loader_state.h"
#include "runtime/tensor.h"

namespace temper {

enum class ChannelMode {
  Keep,  // the dataset's channels as they are
  ToRgb  // three channels: a grey (C = 1) image is copied to three, an RGB one kept
};

struct ImageTransformOptions {
  int64_t out_h = 0, out_w = 0;  // bilinear resize target; both 0 = the dataset's size (no resize)
  ChannelMode channels = ChannelMode::Keep;
  int64_t crop_padding = 0;  // train: RandomCrop(out size, padding) with zero fill; 0 = no crop
  double hflip_p = 0.0;      // train: RandomHorizontalFlip(p); 0 = no flip
  std::vector<float> mean;   // per output channel; empty (with std empty) = no normalisation
  std::vector<float> std;
};

struct ImageLoaderBatch {
  Tensor images;       // [B, H, W, C] f32 CPU, after the transforms
  Tensor labels;       // [B] i32 CPU
  uint64_t epoch = 0;  // epoch the batch was drawn from
};

class ImageLoader {
 public:
  // InputError (source "image loader", field = the option) on an empty data set, batch_size < 1,
  // (train) fewer images than one global batch, or transform options that cannot apply.
  ImageLoader(std::unique_ptr<ImageDataset> data, const LoaderOptions& options,
              const ImageTransformOptions& transforms = {});

  // Fills `out` with the next micro-batch. Train: always true. Eval: false after the last batch.
  bool next(ImageLoaderBatch& out);
  void reset() { cursor_.reset(); }  // Eval: back to the first batch. Train: back to the start of epoch 0.

  int64_t num_images() const { return data_->size(); }
  int64_t batch_size() const { return cursor_.batch_size(); }
  int64_t batches_per_epoch() const { return cursor_.batches_per_epoch(); }  // per rank (eval: last may be partial)
  ImageShape output_shape() const { return out_shape_; }                     // H, W, C of one output image
  int32_t num_classes() const { return data_->num_classes(); }
  ImageDataset& dataset() { return *data_; }

  LoaderState state() const { return cursor_.state(); }
  void restore(const LoaderState& state) { cursor_.restore(state); }  // InputError: other data / seed

 private:
  void check_options() const;
  ImageLoaderBatch make_batch(const std::vector<int64_t>& rows, uint64_t epoch);
  Tensor augment(const Tensor& x, const std::vector<int64_t>& rows, uint64_t epoch) const;  // x [B, H, W, C] f32

  std::unique_ptr<ImageDataset> data_;
  ImageTransformOptions tf_;
  RowCursor cursor_;  // after data_: built from its size
  ImageShape out_shape_;
};

}  // namespace temper
