// CPU tests of kernels/conv2d.h: forward, backward-data and backward-filter against a naive
// direct-loop convolution written here (f64 accumulation) over a sweep that reaches every path
// (general im2col, several im2col chunks, 1x1 pointwise, depthwise with and without a channel
// multiplier) with odd sizes, strides, padding, dilation, groups and bias on/off; the backwards
// against central finite differences on tiny shapes and the adjoint identities on larger ones;
// and the shape checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "tests/test_util.h"

using namespace temper;
using ops::Conv2dParams;
using temper::test::dot;
using temper::test::expect_fd;
using temper::test::randn;
using temper::test::rel_err;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// An output tensor prefilled with NaN, so a kernel that fails to overwrite an element shows it.
Tensor garbage(const Shape& s) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = kNaN;
  return t;
}

// One convolution problem: x[N,H,W,C], w[K,R,S,C/groups], optional bias[K].
struct Case {
  std::string name;
  int64_t n, h, w, c, k, r, s;
  Conv2dParams prm;
  bool bias;
  Shape x_shape() const { return {n, h, w, c}; }
  Shape w_shape() const { return {k, r, s, c / prm.groups}; }
  Shape y_shape() const { return ops::conv2d_output_shape(x_shape(), w_shape(), prm); }
};

Conv2dParams params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups) {
  return {sh, sw, ph, pw, dh, dw, groups};
}

// Stride 2, `before` zeros above / left and `before + extra` below / right (TensorFlow's SAME).
Conv2dParams same_padding(int64_t before, int64_t extra, int64_t groups = 1) {
  Conv2dParams p = Conv2dParams::square(2, before, 1, groups);
  p.extra_pad_h = p.extra_pad_w = extra;
  return p;
}

// The three results of the naive convolution, in f64.
struct Naive {
  std::vector<double> y, dx, dw, db;
};

// Visits every multiply of the direct convolution: y[n,p,q,k] += x[n,h,w,ci] * w[k,r,s,cl].
template <class Fn>
void for_each_tap(const Case& cs, Fn fn) {
  const Shape ys = cs.y_shape();
  const int64_t cg = cs.c / cs.prm.groups, kg = cs.k / cs.prm.groups;
  for (int64_t n = 0; n < cs.n; ++n)
    for (int64_t p = 0; p < ys[1]; ++p)
      for (int64_t q = 0; q < ys[2]; ++q)
        for (int64_t k = 0; k < cs.k; ++k)
          for (int64_t r = 0; r < cs.r; ++r)
            for (int64_t s = 0; s < cs.s; ++s) {
              const int64_t h = p * cs.prm.stride_h - cs.prm.pad_h + r * cs.prm.dilation_h;
              const int64_t w = q * cs.prm.stride_w - cs.prm.pad_w + s * cs.prm.dilation_w;
              if (h < 0 || h >= cs.h || w < 0 || w >= cs.w) continue;
              for (int64_t cl = 0; cl < cg; ++cl) {
                const int64_t xi = ((n * cs.h + h) * cs.w + w) * cs.c + (k / kg) * cg + cl;
                const int64_t wi = ((k * cs.r + r) * cs.s + s) * cg + cl;
                fn(((n * ys[1] + p) * ys[2] + q) * cs.k + k, xi, wi);
              }
            }
}

Naive naive(const Case& cs, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& dy) {
  const float *xp = x.data<float>(), *wp = w.data<float>(), *g = dy.data<float>();
  Naive out{std::vector<double>(dy.numel(), 0.0), std::vector<double>(x.numel(), 0.0),
            std::vector<double>(w.numel(), 0.0), std::vector<double>(cs.k, 0.0)};
  for_each_tap(cs, [&](int64_t yi, int64_t xi, int64_t wi) {
    out.y[yi] += double(xp[xi]) * wp[wi];
    out.dx[xi] += double(g[yi]) * wp[wi];
    out.dw[wi] += double(g[yi]) * xp[xi];
  });
  for (int64_t i = 0; i < dy.numel(); ++i) {
    if (bias.defined()) out.y[i] += bias.data<float>()[i % cs.k];
    out.db[i % cs.k] += g[i];
  }
  return out;
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// Runs the three ops of a case and compares each with the naive loops.
void expect_matches_naive(const Case& cs, double tol) {
  SCOPED_TRACE(cs.name);
  Tensor x = randn(cs.x_shape(), 1), w = randn(cs.w_shape(), 2, 0.3f), dy = randn(cs.y_shape(), 3);
  Tensor bias = cs.bias ? randn({cs.k}, 4) : Tensor();
  const Naive ref = naive(cs, x, w, bias, dy);
  Tensor y = garbage(cs.y_shape()), dx = garbage(cs.x_shape()), dw = garbage(cs.w_shape()), db = garbage({cs.k});
  ops::conv2d_forward(y, x, w, bias, cs.prm);
  EXPECT_LT(rel_err(y.to_vector(), to_float(ref.y)), tol) << "forward";
  ops::conv2d_backward_data(dx, dy, w, cs.prm);
  EXPECT_LT(rel_err(dx.to_vector(), to_float(ref.dx)), tol) << "backward_data";
  ops::conv2d_backward_filter(dw, cs.bias ? db : Tensor(), dy, x, cs.prm);
  EXPECT_LT(rel_err(dw.to_vector(), to_float(ref.dw)), tol) << "backward_filter";
  if (cs.bias) EXPECT_LT(rel_err(db.to_vector(), to_float(ref.db)), tol) << "dbias";
}

}  // namespace

TEST(Conv2d, OutputSize) {
  EXPECT_EQ(ops::conv2d_output_size(224, 7, 2, 3, 1), 112);  // ResNet stem
  EXPECT_EQ(ops::conv2d_output_size(56, 3, 1, 1, 1), 56);
  EXPECT_EQ(ops::conv2d_output_size(56, 1, 2, 0, 1), 28);  // downsample
  EXPECT_EQ(ops::conv2d_output_size(7, 3, 1, 0, 2), 3);
  EXPECT_EQ(ops::conv2d_output_size(8, 3, 2, 1, 1), 4);
  EXPECT_EQ(ops::conv2d_output_size(3, 5, 1, 0, 1), 0);  // filter larger than the input
  EXPECT_EQ(ops::conv2d_output_size(224, 3, 2, 0, 1, 1), 112);  // TF SAME stride 2: (0, 1)
  EXPECT_EQ(ops::conv2d_output_size(56, 5, 2, 1, 1, 1), 28);    // TF SAME stride 2: (1, 2)
  EXPECT_EQ(ops::conv2d_output_shape({2, 9, 8, 6}, {4, 3, 3, 3}, params(2, 1, 1, 0, 1, 2, 2)), (Shape{2, 5, 4, 4}));
}

TEST(Conv2d, MatchesNaiveLoopsOverSweep) {
  const std::vector<Case> cases = {
      {"3x3 odd sizes bias", 2, 7, 5, 3, 4, 3, 3, Conv2dParams::square(1, 1), true},
      {"3x3 stride 2", 2, 9, 8, 5, 6, 3, 3, Conv2dParams::square(2, 1), false},
      {"3x5 mixed stride pad dilation", 1, 10, 9, 4, 5, 3, 5, params(2, 1, 0, 2, 1, 2, 1), true},
      {"3x3 dilation 2", 2, 11, 10, 4, 3, 3, 3, Conv2dParams::square(1, 2, 2), false},
      {"groups 2", 2, 6, 7, 6, 4, 3, 3, Conv2dParams::square(1, 1, 1, 2), true},
      {"groups 3 stride 2 dilation 2", 1, 12, 11, 9, 6, 3, 2, params(2, 2, 2, 1, 2, 2, 3), false},
      {"depthwise stride 2", 2, 9, 7, 5, 5, 3, 3, Conv2dParams::square(2, 1, 1, 5), true},
      {"depthwise 5x5 dilation 2 multiplier 2", 1, 11, 12, 3, 6, 5, 5, Conv2dParams::square(1, 2, 2, 3), false},
      {"depthwise 1x1", 2, 4, 5, 7, 7, 1, 1, Conv2dParams::square(1, 0, 1, 7), true},
      {"1x1 pointwise", 3, 5, 7, 7, 5, 1, 1, Conv2dParams::square(1, 0), true},
      {"1x1 pointwise groups 2", 2, 3, 5, 8, 6, 1, 1, Conv2dParams::square(1, 0, 1, 2), false},
      {"1x1 stride 2", 2, 7, 8, 6, 5, 1, 1, Conv2dParams::square(2, 0), true},
      {"1x1 padded", 1, 4, 4, 3, 2, 1, 1, Conv2dParams::square(1, 1), false},
      {"7x7 stem", 2, 13, 13, 3, 4, 7, 7, Conv2dParams::square(2, 3), false},
      {"3x3 stride 2 TF SAME (0, 1)", 2, 8, 10, 3, 4, 3, 3, same_padding(0, 1), true},
      {"depthwise 5x5 stride 2 TF SAME (1, 2)", 2, 12, 8, 6, 6, 5, 5, same_padding(1, 2, 6), false},
      {"1x1 with extra padding only", 1, 3, 4, 2, 3, 1, 1, same_padding(0, 1), false},
      {"filter as large as padded input", 1, 3, 2, 2, 3, 5, 4, Conv2dParams::square(1, 1), true},
  };
  for (const Case& cs : cases) expect_matches_naive(cs, 2e-5);
}

// Two images each larger than the im2col budget (8 Mi floats): forward, col2im and the dw
// accumulation run chunk by chunk.
TEST(Conv2d, MatchesNaiveLoopsAcrossIm2colChunks) {
  expect_matches_naive({"chunked 96x96x64 3x3", 2, 96, 96, 64, 2, 3, 3, Conv2dParams::square(1, 1), true}, 1e-4);
}

TEST(Conv2d, BackwardMatchesFiniteDifferences) {
  const std::vector<Case> cases = {
      {"general", 1, 4, 5, 2, 3, 3, 2, params(2, 1, 1, 1, 1, 1, 1), true},
      {"dilated grouped", 2, 5, 4, 4, 2, 2, 2, params(1, 2, 1, 0, 2, 1, 2), true},
      {"depthwise", 1, 5, 5, 3, 3, 3, 3, Conv2dParams::square(2, 1, 1, 3), true},
      {"pointwise", 2, 3, 2, 3, 2, 1, 1, Conv2dParams::square(1, 0), true},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(cs.name);
    Tensor x = randn(cs.x_shape(), 5), w = randn(cs.w_shape(), 6, 0.5f), bias = randn({cs.k}, 7);
    Tensor g = randn(cs.y_shape(), 8), y = garbage(cs.y_shape());
    auto loss = [&] {
      ops::conv2d_forward(y, x, w, bias, cs.prm);
      return dot(y, g);
    };
    Tensor dx = garbage(cs.x_shape()), dw = garbage(cs.w_shape()), db = garbage({cs.k});
    ops::conv2d_backward_data(dx, g, w, cs.prm);
    ops::conv2d_backward_filter(dw, db, g, x, cs.prm);
    expect_fd(x, dx, loss, 1e-2, 1e-3);
    expect_fd(w, dw, loss, 1e-2, 1e-3);
    expect_fd(bias, db, loss, 1e-2, 1e-3);
  }
}

// <conv(x, w), dy> = <x, backward_data(dy, w)> = <w, backward_filter(dy, x)> (no bias: conv is
// bilinear in x and w).
TEST(Conv2d, AdjointIdentitiesOnLargerShapes) {
  const std::vector<Case> cases = {
      {"resnet 3x3 stride 2", 4, 28, 27, 32, 48, 3, 3, Conv2dParams::square(2, 1), false},
      {"grouped dilated", 3, 21, 19, 24, 16, 3, 3, Conv2dParams::square(1, 2, 2, 4), false},
      {"depthwise 5x5", 4, 24, 23, 40, 40, 5, 5, Conv2dParams::square(2, 2, 1, 40), false},
      {"pointwise", 4, 14, 14, 64, 96, 1, 1, Conv2dParams::square(1, 0), false},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(cs.name);
    Tensor x = randn(cs.x_shape(), 9), w = randn(cs.w_shape(), 10, 0.2f), dy = randn(cs.y_shape(), 11);
    Tensor y = garbage(cs.y_shape()), dx = garbage(cs.x_shape()), dw = garbage(cs.w_shape());
    ops::conv2d_forward(y, x, w, Tensor(), cs.prm);
    ops::conv2d_backward_data(dx, dy, w, cs.prm);
    ops::conv2d_backward_filter(dw, Tensor(), dy, x, cs.prm);
    const double lhs = dot(y, dy);
    EXPECT_NEAR(dot(x, dx), lhs, 1e-4 * std::abs(lhs) + 1e-3);
    EXPECT_NEAR(dot(w, dw), lhs, 1e-4 * std::abs(lhs) + 1e-3);
  }
}

TEST(Conv2d, EmptyBatch) {
  const Conv2dParams prm = Conv2dParams::square(1, 1);
  Tensor x = Tensor::empty({0, 5, 5, 3}, DType::F32), w = randn({4, 3, 3, 3}, 1), y = garbage({0, 5, 5, 4});
  ops::conv2d_forward(y, x, w, Tensor(), prm);
  Tensor dw = garbage({4, 3, 3, 3}), db = garbage({4});
  ops::conv2d_backward_filter(dw, db, y, x, prm);
  for (float v : dw.to_vector()) EXPECT_EQ(v, 0.f);
  for (float v : db.to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(Conv2d, RejectsBadShapesAndParams) {
  const Conv2dParams prm = Conv2dParams::square(1, 1);
  Tensor x = randn({2, 5, 5, 4}, 1), w = randn({6, 3, 3, 4}, 2), y = garbage({2, 5, 5, 6}), b = randn({6}, 3);
  EXPECT_NO_THROW(ops::conv2d_forward(y, x, w, b, prm));
  EXPECT_THROW(ops::conv2d_forward(garbage({2, 5, 5, 5}), x, w, b, prm), Error);           // y channels
  EXPECT_THROW(ops::conv2d_forward(garbage({2, 3, 3, 6}), x, w, b, prm), Error);           // y spatial
  EXPECT_THROW(ops::conv2d_forward(y, x, w, randn({5}, 3), prm), Error);                   // bias
  EXPECT_THROW(ops::conv2d_forward(y, x, randn({6, 3, 3, 3}, 2), b, prm), Error);          // w channels
  EXPECT_THROW(ops::conv2d_forward(y, randn({2, 5, 5, 4, 1}, 1), w, b, prm), Error);       // 5-D x
  EXPECT_THROW(ops::conv2d_forward(y, randn({10, 5, 4}, 1), w, b, prm), Error);            // 3-D x
  EXPECT_THROW(ops::conv2d_forward(y, Tensor(), w, b, prm), Error);                        // undefined x
  EXPECT_THROW(ops::conv2d_forward(y, x, w, b, Conv2dParams::square(0, 1)), Error);        // stride 0
  EXPECT_THROW(ops::conv2d_forward(y, x, w, b, Conv2dParams::square(1, -1)), Error);       // negative pad
  EXPECT_THROW(ops::conv2d_forward(y, x, w, b, Conv2dParams::square(1, 1, 0)), Error);     // dilation 0
  EXPECT_THROW(ops::conv2d_forward(y, x, w, b, Conv2dParams::square(1, 1, 1, 0)), Error);  // groups 0
  // groups 3 divides neither C = 4 nor K; groups 2 needs w[K,R,S,2].
  EXPECT_THROW(ops::conv2d_forward(y, x, randn({6, 3, 3, 1}, 2), b, Conv2dParams::square(1, 1, 1, 3)), Error);
  EXPECT_THROW(ops::conv2d_forward(y, x, w, b, Conv2dParams::square(1, 1, 1, 2)), Error);
  // Dilated filter (9 wide) larger than the padded input (7).
  EXPECT_THROW(ops::conv2d_forward(garbage({2, 1, 1, 6}), x, w, b, Conv2dParams::square(1, 1, 4)), Error);
  EXPECT_THROW(ops::conv2d_forward(Tensor::empty({2, 5, 5, 6}, DType::BF16), x, w, b, prm), Error);  // dtype
  // Backward ops check dy against the geometry of dx / x.
  EXPECT_THROW(ops::conv2d_backward_data(garbage({2, 5, 5, 4}), garbage({2, 4, 5, 6}), w, prm), Error);
  EXPECT_THROW(ops::conv2d_backward_data(garbage({2, 5, 5, 3}), y, w, prm), Error);
  EXPECT_THROW(ops::conv2d_backward_filter(garbage({6, 3, 3, 4}), garbage({5}), y, x, prm), Error);
  EXPECT_THROW(ops::conv2d_backward_filter(garbage({6, 3, 3, 4}), Tensor(), garbage({1, 5, 5, 6}), x, prm), Error);
  EXPECT_NO_THROW(ops::conv2d_backward_filter(garbage({6, 3, 3, 4}), Tensor(), y, x, prm));
}
