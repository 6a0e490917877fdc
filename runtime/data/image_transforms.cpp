// CPU image transforms (see image_transforms.h). Plain loops over NHWC; the channel index is the
// innermost, so every inner loop is a contiguous copy or scale.
#include "runtime/data/image_transforms.h"

#include <algorithm>
#include <cstring>

#include "runtime/error.h"

namespace temper {
namespace {

void check_nhwc_f32(const Tensor& x, const char* op) {
  TEMPER_CHECK(x.defined() && x.ndim() == 4 && x.device() == Device::Cpu, "{}: expects a CPU [N, H, W, C] tensor", op);
  check_dtype(x, DType::F32, op, "x");
}

// torch's source coordinate for align_corners=False: clamp((dst + 0.5) * in / out - 0.5, 0),
// the two neighbours and the weight of the second.
struct Tap {
  int64_t i0, i1;
  float w1;
};

std::vector<Tap> bilinear_taps(int64_t in, int64_t out) {
  std::vector<Tap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    const float src = std::max((static_cast<float>(d) + 0.5f) * scale - 0.5f, 0.f);
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    taps[d] = Tap{i0, std::min(i0 + 1, in - 1), src - static_cast<float>(i0)};
  }
  return taps;
}

// Uniform integer in [0, hi]; the modulo bias is below 2^-40 for any image size.
int64_t draw_upto(std::mt19937_64& rng, int64_t hi) { return static_cast<int64_t>(rng() % uint64_t(hi + 1)); }

}  // namespace

Tensor to_float(const Tensor& images) {
  TEMPER_CHECK(images.defined() && images.ndim() == 4, "to_float: expects [N, H, W, C]");
  check_dtype(images, DType::U8, "to_float", "images");
  Tensor out = Tensor::empty(images.shape(), DType::F32);
  const uint8_t* src = images.data<uint8_t>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < images.numel(); ++i) dst[i] = static_cast<float>(src[i]) / 255.f;
  return out;
}

Tensor resize_bilinear(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_nhwc_f32(x, "resize_bilinear");
  TEMPER_CHECK(out_h >= 1 && out_w >= 1, "resize_bilinear: output {}x{}", out_h, out_w);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const std::vector<Tap> ty = bilinear_taps(h, out_h), tx = bilinear_taps(w, out_w);
  Tensor out = Tensor::empty({n, out_h, out_w, c}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t b = 0; b < n; ++b) {
    const float* img = src + b * h * w * c;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const float* r0 = img + ty[oy].i0 * w * c;
      const float* r1 = img + ty[oy].i1 * w * c;
      const float wy = ty[oy].w1;
      for (int64_t ox = 0; ox < out_w; ++ox, dst += c) {
        const int64_t a = tx[ox].i0 * c, bb = tx[ox].i1 * c;
        const float wx = tx[ox].w1;
        for (int64_t ch = 0; ch < c; ++ch) {
          const float top = (1.f - wx) * r0[a + ch] + wx * r0[bb + ch];
          const float bot = (1.f - wx) * r1[a + ch] + wx * r1[bb + ch];
          dst[ch] = (1.f - wy) * top + wy * bot;
        }
      }
    }
  }
  return out;
}

Tensor grey_to_rgb(const Tensor& x) {
  check_nhwc_f32(x, "grey_to_rgb");
  TEMPER_CHECK(x.dim(3) == 1, "grey_to_rgb: expects C = 1, got {}", x.dim(3));
  Tensor out = Tensor::empty({x.dim(0), x.dim(1), x.dim(2), 3}, DType::F32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
  return out;
}

Tensor crop_padded(const Tensor& x, int64_t out_h, int64_t out_w, int64_t padding, const std::vector<int64_t>& tops,
                   const std::vector<int64_t>& lefts) {
  check_nhwc_f32(x, "crop_padded");
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  TEMPER_CHECK(static_cast<int64_t>(tops.size()) == n && static_cast<int64_t>(lefts.size()) == n,
               "crop_padded: {} tops and {} lefts for {} images", tops.size(), lefts.size(), n);
  TEMPER_CHECK(padding >= 0 && out_h >= 1 && out_w >= 1, "crop_padded: padding {}, output {}x{}", padding, out_h,
               out_w);
  Tensor out = Tensor::zeros({n, out_h, out_w, c}, DType::F32);
  for (int64_t b = 0; b < n; ++b) {
    TEMPER_CHECK(
        tops[b] >= 0 && lefts[b] >= 0 && tops[b] + out_h <= h + 2 * padding && lefts[b] + out_w <= w + 2 * padding,
        "crop_padded: window at ({}, {}) leaves the padded {}x{} image", tops[b], lefts[b], h + 2 * padding,
        w + 2 * padding);
    const float* img = x.data<float>() + b * h * w * c;
    float* dst = out.data<float>() + b * out_h * out_w * c;
    // Source columns [x0, x1) land in the window; the rest stays zero (the padding).
    const int64_t sx0 = std::max<int64_t>(lefts[b] - padding, 0), sx1 = std::min(lefts[b] - padding + out_w, w);
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const int64_t sy = tops[b] - padding + oy;
      if (sy < 0 || sy >= h || sx1 <= sx0) continue;
      const int64_t ox0 = sx0 - (lefts[b] - padding);
      std::memcpy(dst + (oy * out_w + ox0) * c, img + (sy * w + sx0) * c, sizeof(float) * (sx1 - sx0) * c);
    }
  }
  return out;
}

Tensor random_crop(const Tensor& x, int64_t out_h, int64_t out_w, int64_t padding, std::mt19937_64& rng) {
  check_nhwc_f32(x, "random_crop");
  const int64_t n = x.dim(0), span_h = x.dim(1) + 2 * padding - out_h, span_w = x.dim(2) + 2 * padding - out_w;
  TEMPER_CHECK(span_h >= 0 && span_w >= 0, "random_crop: {}x{} does not fit in the padded image", out_h, out_w);
  std::vector<int64_t> tops(n), lefts(n);
  for (int64_t b = 0; b < n; ++b) {
    tops[b] = draw_upto(rng, span_h);
    lefts[b] = draw_upto(rng, span_w);
  }
  return crop_padded(x, out_h, out_w, padding, tops, lefts);
}

Tensor flip_horizontal(const Tensor& x, const std::vector<uint8_t>& flip) {
  check_nhwc_f32(x, "flip_horizontal");
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  TEMPER_CHECK(static_cast<int64_t>(flip.size()) == n, "flip_horizontal: {} flags for {} images", flip.size(), n);
  Tensor out = x.clone();
  for (int64_t b = 0; b < n; ++b) {
    if (!flip[b]) continue;
    for (int64_t y = 0; y < h; ++y) {
      const float* src = x.data<float>() + ((b * h + y) * w) * c;
      float* dst = out.data<float>() + ((b * h + y) * w) * c;
      for (int64_t ox = 0; ox < w; ++ox) std::memcpy(dst + ox * c, src + (w - 1 - ox) * c, sizeof(float) * c);
    }
  }
  return out;
}

Tensor random_hflip(const Tensor& x, double p, std::mt19937_64& rng) {
  check_nhwc_f32(x, "random_hflip");
  std::vector<uint8_t> flip(x.dim(0));
  for (auto& f : flip) f = static_cast<double>(rng() >> 11) * 0x1.0p-53 < p;  // uniform in [0, 1)
  return flip_horizontal(x, flip);
}

void normalize_(const Tensor& x, const std::vector<float>& mean, const std::vector<float>& std) {
  check_nhwc_f32(x, "normalize_");
  const int64_t c = x.dim(3);
  TEMPER_INPUT_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c, "normalize",
                     "mean/std", "{} means and {} stds for {} channels", mean.size(), std.size(), c);
  std::vector<float> inv(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    TEMPER_INPUT_CHECK(std[ch] > 0.f, "normalize", "std", "std[{}] = {} must be > 0", ch, std[ch]);
    inv[ch] = 1.f / std[ch];
  }
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); i += c) {
    for (int64_t ch = 0; ch < c; ++ch) p[i + ch] = (p[i + ch] - mean[ch]) * inv[ch];
  }
}

}  // namespace temper
