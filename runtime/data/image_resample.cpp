// PIL-exact bilinear resampling on uint8 RGB (see image_resample.h). The tap computation mirrors
// Pillow's precompute_coeffs / normalize_coeffs_8bpc (double arithmetic, then weights scaled by 2^22
// and rounded away from zero); each pass starts its sum at 2^21 (rounding) and clamps sum >> 22. An
// axis whose size does not change gets identity taps (weight 2^22 on one pixel), which reproduce the
// input exactly, so skipping that pass (as Pillow does) and running it give the same bytes.
#include "runtime/data/image_resample.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace temper {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// For output positions [begin, begin + count): the first input index, the number of taps and ksize
// weights each.
struct Taps {
  int ksize = 0;
  std::vector<int64_t> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // [count, ksize]
  int64_t lo() const { return first.front(); }                  // the input range the taps read
  int64_t hi() const { return first.back() + count.back(); }  // (first and first + count rise)
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Taps pil_taps(int64_t in, int64_t out, int64_t begin, int64_t n) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0), support = filterscale;  // the triangle's support is 1
  const double ss = 1.0 / filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(n);
  t.count.resize(n);
  t.weights.assign(static_cast<size_t>(n * t.ksize), 0);
  std::vector<double> k(t.ksize);
  for (int64_t i = 0; i < n; ++i) {
    const double center = (static_cast<double>(begin + i) + 0.5) * scale;
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
    const int xmax = static_cast<int>(std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin);
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) sum += k[x] = triangle((static_cast<double>(x + xmin) - center + 0.5) * ss);
    for (int x = 0; x < xmax; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      const double scaled = w * (1 << kPrecisionBits);
      t.weights[i * t.ksize + x] = static_cast<int32_t>(w < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    t.first[i] = xmin;
    t.count[i] = xmax;
  }
  return t;
}

Taps identity_taps(int64_t begin, int64_t n) {
  Taps t;
  t.ksize = 1;
  t.count.assign(n, 1);
  t.weights.assign(n, 1 << kPrecisionBits);
  for (int64_t i = 0; i < n; ++i) t.first.push_back(begin + i);
  return t;
}

Taps axis_taps(int64_t in, int64_t out, int64_t begin, int64_t n) {
  return in == out ? identity_taps(begin, n) : pil_taps(in, out, begin, n);
}

uint8_t clip8(int32_t acc) { return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255)); }

// An image's pixel block: rows [y0, y0 + h) and columns [x0, x0 + w) of some larger image.
struct Block {
  int64_t y0 = 0, x0 = 0, h = 0, w = 0;
  std::vector<uint8_t> px;  // [h, w, 3]
  const uint8_t* at(int64_t y, int64_t x) const { return px.data() + ((y - y0) * w + (x - x0)) * 3; }
};

// out[y, i] = sum over taps of in[y, first + j] * k[j], for the block's rows and tx's outputs.
Block horizontal_pass(const Block& in, const Taps& tx, int64_t out_x0) {
  const int64_t n = static_cast<int64_t>(tx.first.size());
  Block out{in.y0, out_x0, in.h, n, std::vector<uint8_t>(static_cast<size_t>(in.h * n * 3))};
  for (int64_t y = in.y0; y < in.y0 + in.h; ++y) {
    uint8_t* dst = out.px.data() + (y - in.y0) * n * 3;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t* k = tx.weights.data() + i * tx.ksize;
      const uint8_t* p = in.at(y, tx.first[i]);
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < tx.count[i]; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[3 * i] = clip8(s0);
      dst[3 * i + 1] = clip8(s1);
      dst[3 * i + 2] = clip8(s2);
    }
  }
  return out;
}

// out[i, x] = sum over taps of in[first + j, x] * k[j], for ty's outputs and the block's columns.
Block vertical_pass(const Block& in, const Taps& ty, int64_t out_y0) {
  const int64_t n = static_cast<int64_t>(ty.first.size()), row = in.w * 3;
  Block out{out_y0, in.x0, n, in.w, std::vector<uint8_t>(static_cast<size_t>(n * row))};
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* k = ty.weights.data() + i * ty.ksize;
    const uint8_t* src = in.at(ty.first[i], in.x0);
    uint8_t* dst = out.px.data() + i * row;
    for (int64_t c = 0; c < row; ++c) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < ty.count[i]; ++y) s += src[y * row + c] * k[y];
      dst[c] = clip8(s);
    }
  }
  return out;
}

// The rows [y0, y1) and columns [x0, x1) of the whole image `in`.
Block cut(const RgbImage& in, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  Block b{y0, x0, y1 - y0, x1 - x0, std::vector<uint8_t>(static_cast<size_t>((y1 - y0) * (x1 - x0) * 3))};
  for (int64_t y = y0; y < y1; ++y)
    std::copy_n(in.pixels.data() + (y * in.w + x0) * 3, b.w * 3, b.px.data() + (y - y0) * b.w * 3);
  return b;
}

// Python's round(d / 2) for d >= 0: halves go to the even neighbour.
int64_t half_rounded_to_even(int64_t d) {
  const int64_t k = d / 2;
  return (d % 2 != 0 && k % 2 != 0) ? k + 1 : k;
}

}  // namespace

RgbImage resize_window_pil(const RgbImage& in, int64_t out_h, int64_t out_w, const PixelWindow& win) {
  TEMPER_CHECK(in.h >= 1 && in.w >= 1 && out_h >= 1 && out_w >= 1, "resize_window_pil: {}x{} -> {}x{}", in.h, in.w,
               out_h, out_w);
  TEMPER_CHECK(win.h >= 1 && win.w >= 1 && win.top >= 0 && win.left >= 0 && win.top + win.h <= out_h &&
                   win.left + win.w <= out_w,
               "resize_window_pil: window {}x{} at ({}, {}) outside {}x{}", win.h, win.w, win.top, win.left, out_h,
               out_w);
  const Taps ty = axis_taps(in.h, out_h, win.top, win.h), tx = axis_taps(in.w, out_w, win.left, win.w);
  // Pillow 13 resamples the height first when it shrinks, by more than twice as many pixels as the
  // width does (found by comparing both orders with Pillow 13.0 on 260 random and boundary sizes).
  const int64_t dh = in.h - out_h, dw = in.w - out_w;
  const bool vertical_first = dw != 0 && dh > 0 && dh > 2 * dw;
  const Block out = vertical_first
                        ? horizontal_pass(vertical_pass(cut(in, 0, in.h, tx.lo(), tx.hi()), ty, win.top), tx, win.left)
                        : vertical_pass(horizontal_pass(cut(in, ty.lo(), ty.hi(), 0, in.w), tx, win.left), ty, win.top);
  return RgbImage{win.h, win.w, out.px};
}

RgbImage resize_bilinear_pil(const RgbImage& in, int64_t out_h, int64_t out_w) {
  return resize_window_pil(in, out_h, out_w, PixelWindow{0, 0, out_h, out_w});
}

RgbImage resize_shorter_center_crop(const RgbImage& in, int64_t shorter, int64_t crop) {
  TEMPER_CHECK(crop >= 1 && crop <= shorter, "resize_shorter_center_crop: crop {} for shorter side {}", crop, shorter);
  const bool portrait = in.w <= in.h;
  const int64_t small = portrait ? in.w : in.h, large = portrait ? in.h : in.w;
  const auto other = static_cast<int64_t>(static_cast<double>(shorter * large) / static_cast<double>(small));
  const int64_t out_h = portrait ? other : shorter, out_w = portrait ? shorter : other;
  const PixelWindow win{half_rounded_to_even(out_h - crop), half_rounded_to_even(out_w - crop), crop, crop};
  return resize_window_pil(in, out_h, out_w, win);
}

}  // namespace temper
