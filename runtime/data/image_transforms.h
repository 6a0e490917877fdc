// Image transforms on CPU batches: uint8 NHWC from an ImageDataset -> f32 NHWC for the model.
// Formulas follow torchvision so a model fine-tuned here sees what it saw in PyTorch:
//   to_float        x / 255 (ToTensor)
//   resize_bilinear align_corners=False, antialias=False (F.interpolate(mode="bilinear"))
//   grey_to_rgb     the one channel copied to three (Grayscale(num_output_channels=3)'s inverse)
//   random_crop     RandomCrop(size, padding) with zero fill: each image its own offset
//   random_hflip    RandomHorizontalFlip(p): each image its own coin
//   normalize_      (x - mean[c]) / std[c] per channel (Normalize)
// Random choices come from a caller-owned std::mt19937_64 drawn with plain arithmetic (no
// std::*_distribution, whose output differs between standard libraries), so a seed gives the same
// augmentation on every platform. The deterministic crop/flip below make them testable.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/tensor.h"

namespace temper {

Tensor to_float(const Tensor& images);  // images [N, H, W, C] u8 -> [N, H, W, C] f32 in [0, 1]

// x [N, H, W, C] f32 -> [N, out_h, out_w, C] f32.
Tensor resize_bilinear(const Tensor& x, int64_t out_h, int64_t out_w);

Tensor grey_to_rgb(const Tensor& x);  // x [N, H, W, 1] f32 -> [N, H, W, 3] f32

// Image n of x [N, H, W, C] f32 zero-padded by `padding` on every side, then cut at (tops[n],
// lefts[n]) in padded coordinates -> [N, out_h, out_w, C]. Offsets must keep the window inside.
Tensor crop_padded(const Tensor& x, int64_t out_h, int64_t out_w, int64_t padding, const std::vector<int64_t>& tops,
                   const std::vector<int64_t>& lefts);
// Same with offsets drawn uniformly from [0, H + 2 * padding - out_h] (and likewise for W).
Tensor random_crop(const Tensor& x, int64_t out_h, int64_t out_w, int64_t padding, std::mt19937_64& rng);

// x [N, H, W, C] f32 with image n mirrored left-right where flip[n] != 0 (a new tensor).
Tensor flip_horizontal(const Tensor& x, const std::vector<uint8_t>& flip);
Tensor random_hflip(const Tensor& x, double p, std::mt19937_64& rng);  // each image flipped with probability p

// x [N, H, W, C] f32 in place: (x - mean[c]) / std[c]. InputError (source "normalize") when the
// sizes differ from C or a std is not > 0.
void normalize_(const Tensor& x, const std::vector<float>& mean, const std::vector<float>& std);

}  // namespace temper
