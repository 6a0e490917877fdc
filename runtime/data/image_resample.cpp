// PIL-exact bilinear resampling on uint8 RGB (see image_resample.h). The tap computation mirrors
// Pillow's precompute_coeffs / normalize_coeffs_8bpc (double arithmetic, then weights scaled by 2^22
// and rounded away from zero); each pass starts its sum at 2^21 (rounding) and clamps sum >> 22.
#include "runtime/data/image_resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/error.h"

namespace temper {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// For each output position: the first input index, the number of taps, and ksize weights.
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out, ksize]
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Taps pil_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0), support = filterscale;  // the triangle's support is 1
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out * t.ksize), 0);
  std::vector<double> k(t.ksize);
  const double ss = 1.0 / filterscale;
  for (int64_t xx = 0; xx < out; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), static_cast<int>(in)) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) sum += k[x] = triangle((x + xmin - center + 0.5) * ss);
    for (int x = 0; x < xmax; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      const double scaled = w * (1 << kPrecisionBits);
      t.weights[xx * t.ksize + x] = static_cast<int32_t>(w < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

uint8_t clip8(int32_t acc) { return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255)); }

// Rows [row0, row0 + rows) of `in`, resampled along x with `tx` -> [rows, out_w, 3].
RgbImage horizontal_pass(const RgbImage& in, const Taps& tx, int64_t out_w, int64_t row0, int64_t rows) {
  RgbImage out{rows, out_w, std::vector<uint8_t>(static_cast<size_t>(rows * out_w * 3))};
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* src = in.pixels.data() + (row0 + y) * in.w * 3;
    uint8_t* dst = out.pixels.data() + y * out_w * 3;
    for (int64_t xx = 0; xx < out_w; ++xx) {
      const int32_t* k = tx.weights.data() + xx * tx.ksize;
      const uint8_t* p = src + static_cast<int64_t>(tx.first[xx]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < tx.count[xx]; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[3 * xx] = clip8(s0);
      dst[3 * xx + 1] = clip8(s1);
      dst[3 * xx + 2] = clip8(s2);
    }
  }
  return out;
}

// `in` resampled along y with `ty` (its first indices relative to in's row 0) -> [out_h, in.w, 3].
RgbImage vertical_pass(const RgbImage& in, const Taps& ty, int64_t out_h, int first_shift) {
  const int64_t row = in.w * 3;
  RgbImage out{out_h, in.w, std::vector<uint8_t>(static_cast<size_t>(out_h * row))};
  for (int64_t yy = 0; yy < out_h; ++yy) {
    const int32_t* k = ty.weights.data() + yy * ty.ksize;
    const uint8_t* src = in.pixels.data() + static_cast<int64_t>(ty.first[yy] - first_shift) * row;
    uint8_t* dst = out.pixels.data() + yy * row;
    for (int64_t i = 0; i < row; ++i) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < ty.count[yy]; ++y) s += src[y * row + i] * k[y];
      dst[i] = clip8(s);
    }
  }
  return out;
}

// Python's round(d / 2) for d >= 0: halves go to the even neighbour.
int64_t half_rounded_to_even(int64_t d) {
  const int64_t k = d / 2;
  return (d % 2 != 0 && k % 2 != 0) ? k + 1 : k;
}

}  // namespace

RgbImage resize_bilinear_pil(const RgbImage& in, int64_t out_h, int64_t out_w) {
  TEMPER_CHECK(in.h >= 1 && in.w >= 1 && out_h >= 1 && out_w >= 1, "resize_bilinear_pil: {}x{} -> {}x{}", in.h, in.w,
               out_h, out_w);
  const bool horizontal = out_w != in.w, vertical = out_h != in.h;
  if (!horizontal && !vertical) return in;
  const Taps ty = pil_taps(in.h, out_h);
  if (!horizontal) return vertical_pass(in, ty, out_h, 0);
  // Like Pillow, the horizontal pass covers only the rows the vertical taps read.
  const int row0 = vertical ? ty.first.front() : 0;
  const int64_t rows = vertical ? ty.first.back() + ty.count.back() - row0 : in.h;
  const RgbImage wide = horizontal_pass(in, pil_taps(in.w, out_w), out_w, row0, rows);
  return vertical ? vertical_pass(wide, ty, out_h, row0) : wide;
}

RgbImage resize_shorter_center_crop(const RgbImage& in, int64_t shorter, int64_t crop) {
  TEMPER_CHECK(crop >= 1 && crop <= shorter, "resize_shorter_center_crop: crop {} for shorter side {}", crop, shorter);
  const bool portrait = in.w <= in.h;
  const int64_t small = portrait ? in.w : in.h, large = portrait ? in.h : in.w;
  const auto other = static_cast<int64_t>(static_cast<double>(shorter * large) / static_cast<double>(small));
  const RgbImage r = portrait ? resize_bilinear_pil(in, other, shorter) : resize_bilinear_pil(in, shorter, other);
  const int64_t top = half_rounded_to_even(r.h - crop), left = half_rounded_to_even(r.w - crop);
  RgbImage out{crop, crop, std::vector<uint8_t>(static_cast<size_t>(crop * crop * 3))};
  for (int64_t y = 0; y < crop; ++y)
    std::memcpy(out.pixels.data() + y * crop * 3, r.pixels.data() + ((top + y) * r.w + left) * 3,
                static_cast<size_t>(crop * 3));
  return out;
}

}  // namespace temper
