// CPU pooling over NHWC: one output pixel (n, p, q) at a time, the channel loop innermost so every
// window pixel is one contiguous row of C values. Backward zeroes dx and scatters each image n on
// its own thread (windows overlap only within an image).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/pool2d.h"
#include "kernels/ref/vision_ref_ops.h"

namespace temper::ref {
namespace {

using ops::PadCounting;
using ops::Pool2dWindow;

struct Dims {
  int64_t n = 0, h = 0, w = 0, c = 0, p = 0, q = 0;
};
// x (or dx) [N,H,W,C] and out (or dy) [N,P,Q,C].
Dims dims_of(const Tensor& x, const Tensor& out) {
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3), out.dim(1), out.dim(2)};
}

// The input pixels [h0,h1) x [w0,w1) under one output pixel, and what their sum is divided by.
struct Span {
  int64_t h0 = 0, h1 = 0, w0 = 0, w1 = 0;
  float divisor = 1.f;
};

// The window of output pixel (p, q) clipped to the image. Without ceil_mode a window never reaches
// past the padding, so counting the padding divides by the whole R x S (torch's count_include_pad).
Span window_span(const Pool2dWindow& win, const Dims& d, int64_t p, int64_t q, PadCounting counting) {
  Span s;
  s.h0 = std::max<int64_t>(p * win.stride_h - win.pad_h, 0);
  s.w0 = std::max<int64_t>(q * win.stride_w - win.pad_w, 0);
  s.h1 = std::min(p * win.stride_h - win.pad_h + win.r, d.h);
  s.w1 = std::min(q * win.stride_w - win.pad_w + win.s, d.w);
  const int64_t n = counting == PadCounting::Include ? win.r * win.s : (s.h1 - s.h0) * (s.w1 - s.w0);
  s.divisor = static_cast<float>(n);
  return s;
}

// torch's adaptive pooling: rows floor(i*in/out) .. ceil((i+1)*in/out) - 1.
int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

Span adaptive_span(const Dims& d, int64_t p, int64_t q) {
  Span s;
  s.h0 = adaptive_start(p, d.h, d.p);
  s.h1 = adaptive_end(p, d.h, d.p);
  s.w0 = adaptive_start(q, d.w, d.q);
  s.w1 = adaptive_end(q, d.w, d.q);
  s.divisor = static_cast<float>((s.h1 - s.h0) * (s.w1 - s.w0));
  return s;
}

// out[n,p,q,:] = sum of x over span(p, q) / divisor.
template <class SpanFn>
void sum_pool_forward(const Tensor& out, const Tensor& x, const Dims& d, SpanFn span) {
  const float* xp = x.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t p = 0; p < d.p; ++p)
      for (int64_t q = 0; q < d.q; ++q) {
        const Span s = span(p, q);
        float* o = op + ((n * d.p + p) * d.q + q) * d.c;
        for (int64_t c = 0; c < d.c; ++c) o[c] = 0.f;
        for (int64_t h = s.h0; h < s.h1; ++h)
          for (int64_t w = s.w0; w < s.w1; ++w) {
            const float* row = xp + ((n * d.h + h) * d.w + w) * d.c;
            for (int64_t c = 0; c < d.c; ++c) o[c] += row[c];
          }
        for (int64_t c = 0; c < d.c; ++c) o[c] /= s.divisor;
      }
}

// dx overwritten: dy[n,p,q,:] / divisor added to every pixel of span(p, q).
template <class SpanFn>
void sum_pool_backward(const Tensor& dx, const Tensor& dy, const Dims& d, SpanFn span) {
  dx.zero_();
  const float* g = dy.data<float>();
  float* dxp = dx.data<float>();
#pragma omp parallel for
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t p = 0; p < d.p; ++p)
      for (int64_t q = 0; q < d.q; ++q) {
        const Span s = span(p, q);
        const float* gy = g + ((n * d.p + p) * d.q + q) * d.c;
        for (int64_t h = s.h0; h < s.h1; ++h)
          for (int64_t w = s.w0; w < s.w1; ++w) {
            float* row = dxp + ((n * d.h + h) * d.w + w) * d.c;
            for (int64_t c = 0; c < d.c; ++c) row[c] += gy[c] / s.divisor;
          }
      }
}

}  // namespace

// Padding never wins: each window holds at least one real pixel (pad <= window/2), the running max
// starts at -inf on the window's first real pixel, and only a strictly larger value or a NaN replaces it.
void max_pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dWindow& win) {
  const Dims d = dims_of(x, out);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  int32_t* ip = indices.data<int32_t>();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t p = 0; p < d.p; ++p)
      for (int64_t q = 0; q < d.q; ++q) {
        const Span s = window_span(win, d, p, q, PadCounting::Exclude);
        const int64_t at = ((n * d.p + p) * d.q + q) * d.c;
        for (int64_t c = 0; c < d.c; ++c) {
          op[at + c] = -std::numeric_limits<float>::infinity();
          ip[at + c] = static_cast<int32_t>(s.h0 * d.w + s.w0);
        }
        for (int64_t h = s.h0; h < s.h1; ++h)
          for (int64_t w = s.w0; w < s.w1; ++w) {
            const float* row = xp + ((n * d.h + h) * d.w + w) * d.c;
            for (int64_t c = 0; c < d.c; ++c)
              if (row[c] > op[at + c] || std::isnan(row[c])) {
                op[at + c] = row[c];
                ip[at + c] = static_cast<int32_t>(h * d.w + w);
              }
          }
      }
}

void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices) {
  const Dims d = dims_of(dx, dy);
  dx.zero_();
  const float* g = dy.data<float>();
  const int32_t* ip = indices.data<int32_t>();
  float* dxp = dx.data<float>();
  const int64_t plane = d.h * d.w, per_image = d.p * d.q * d.c;
  int64_t bad = 0;
#pragma omp parallel for reduction(+ : bad)
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t k = n * per_image; k < (n + 1) * per_image; ++k) {
      const int64_t at = ip[k], c = k % d.c;
      if (at < 0 || at >= plane) {
        ++bad;
        continue;
      }
      dxp[(n * plane + at) * d.c + c] += g[k];
    }
  TEMPER_CHECK(bad == 0, "max_pool2d_backward: {} indices outside the {}x{} input plane", bad, d.h, d.w);
}

void avg_pool2d_forward(const Tensor& out, const Tensor& x, const Pool2dWindow& win, PadCounting counting) {
  const Dims d = dims_of(x, out);
  sum_pool_forward(out, x, d, [&](int64_t p, int64_t q) { return window_span(win, d, p, q, counting); });
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Pool2dWindow& win, PadCounting counting) {
  const Dims d = dims_of(dx, dy);
  sum_pool_backward(dx, dy, d, [&](int64_t p, int64_t q) { return window_span(win, d, p, q, counting); });
}

void adaptive_avg_pool2d_forward(const Tensor& out, const Tensor& x) {
  const Dims d = dims_of(x, out);
  sum_pool_forward(out, x, d, [&](int64_t p, int64_t q) { return adaptive_span(d, p, q); });
}

void adaptive_avg_pool2d_backward(const Tensor& dx, const Tensor& dy) {
  const Dims d = dims_of(dx, dy);
  sum_pool_backward(dx, dy, d, [&](int64_t p, int64_t q) { return adaptive_span(d, p, q); });
}

}  // namespace temper::ref
