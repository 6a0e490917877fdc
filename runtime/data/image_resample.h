// Resizing decoded 8-bit RGB images as torchvision does on PIL images, bit for bit:
//   resize_bilinear_pil        PIL's Image.resize(size, BILINEAR): a triangle filter widened by the
//                              downscale factor (so shrinking averages, no aliasing), 22-bit fixed-point
//                              weights, a horizontal pass rounded to uint8 then a vertical pass
//   resize_shorter_center_crop transforms.Resize(shorter) then transforms.CenterCrop(crop)
// Used by ImageFolderDataset, whose files come in every size, to give one shape to all images.
#pragma once
#include <cstdint>

#include "runtime/data/image_decoder.h"

namespace temper {

RgbImage resize_bilinear_pil(const RgbImage& in, int64_t out_h, int64_t out_w);

// Shorter side to `shorter` (the longer one int(shorter * long / short)), then the centred
// crop x crop window (offsets rounded half to even, as Python's round). Needs 1 <= crop <= shorter.
RgbImage resize_shorter_center_crop(const RgbImage& in, int64_t shorter, int64_t crop);

}  // namespace temper
