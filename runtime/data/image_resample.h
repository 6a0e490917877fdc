// Resizing decoded 8-bit RGB images as torchvision does on PIL images, bit for bit (Pillow 13):
//   resize_bilinear_pil        PIL's Image.resize(size, BILINEAR): a triangle filter widened by the
//                              downscale factor (so shrinking averages, no aliasing), 22-bit fixed-point
//                              weights, one pass per axis rounded to uint8 in between; the vertical pass
//                              first when the height shrinks, by more than twice as many pixels as the
//                              width (Pillow 13's order; Pillow <= 12 always went horizontal first, which
//                              differs by 1 in places there)
//   resize_shorter_center_crop transforms.Resize(shorter) then transforms.CenterCrop(crop)
// Only the output pixels asked for are computed (the centre crop's window), so a file that claims an
// extreme aspect ratio costs memory in proportion to the crop, not to the resized image.
// Used by ImageFolderDataset, whose files come in every size, to give one shape to all images.
#pragma once
#include <cstdint>

#include "runtime/data/image_decoder.h"

namespace temper {

RgbImage resize_bilinear_pil(const RgbImage& in, int64_t out_h, int64_t out_w);

// Rows [top, top + h) and columns [left, left + w) of resize_bilinear_pil(in, out_h, out_w).
struct PixelWindow {
  int64_t top = 0, left = 0, h = 0, w = 0;
};
RgbImage resize_window_pil(const RgbImage& in, int64_t out_h, int64_t out_w, const PixelWindow& window);

// Shorter side to `shorter` (the longer one int(shorter * long / short)), then the centred
// crop x crop window (offsets rounded half to even, as Python's round). Needs 1 <= crop <= shorter.
RgbImage resize_shorter_center_crop(const RgbImage& in, int64_t shorter, int64_t crop);

}  // namespace temper
