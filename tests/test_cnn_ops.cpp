// CPU tests of the CNN building blocks (kernels/batchnorm.h, pool2d.h, activation.h): forwards
// against naive loops written here and against torch's formulas on small hand-computed cases,
// every backward against central finite differences, and the shape checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/pool2d.h"
#include "tests/test_util.h"

using namespace temper;
using ops::Activation;
using ops::ActSaved;
using ops::PadCounting;
using ops::Pool2dWindow;
using temper::test::dot;
using temper::test::expect_fd;
using temper::test::randn;
using temper::test::rel_err;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

Tensor empty(const Shape& s) { return Tensor::empty(s, DType::F32); }

// x[N,H,W,C] element.
float at(const Tensor& x, int64_t n, int64_t h, int64_t w, int64_t c) {
  return x.data<float>()[((n * x.dim(1) + h) * x.dim(2) + w) * x.dim(3) + c];
}

// Moves values within `margin` of a kink k (and of the kink itself) away from it, so central
// differences with step 1e-2 never straddle one.
void avoid_kinks(const Tensor& x, std::initializer_list<float> kinks, float margin = 0.05f) {
  for (int64_t i = 0; i < x.numel(); ++i)
    for (float k : kinks) {
      float& v = x.data<float>()[i];
      if (std::abs(v - k) < margin) v = k + (v < k ? -margin : margin);
    }
}

// A [N,H,W,C] tensor holding a shuffled 0.1-spaced grid: no ties, so max pooling is
// differentiable under a 1e-2 step.
Tensor distinct(const Shape& s, uint64_t seed) {
  Tensor t = randn(s, seed);
  std::vector<float> v = t.to_vector();
  std::vector<int64_t> order(v.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return v[a] < v[b]; });
  for (size_t r = 0; r < order.size(); ++r) t.data<float>()[order[r]] = 0.1f * (float(r) - order.size() / 2.f);
  return t;
}

}  // namespace

// ---------------------------------------------------------------- activations

TEST(CnnActivation, ForwardMatchesTorchFormulas) {
  Tensor x = Tensor::from_f32({-2.f, -0.f, 0.5f, 3.f, 6.f, 7.5f}, {6});
  Tensor out = empty({6});
  ops::activation_forward(out, x, Activation::Relu);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{0.f, 0.f, 0.5f, 3.f, 6.f, 7.5f}));
  ops::activation_forward(out, x, Activation::Relu6);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{0.f, 0.f, 0.5f, 3.f, 6.f, 6.f}));
  ops::activation_forward(out, x, Activation::Sigmoid);
  EXPECT_NEAR(out.data<float>()[1], 0.5f, 1e-7);
  EXPECT_NEAR(out.data<float>()[0], 0.11920292f, 1e-7);  // torch.sigmoid(-2)
  ops::activation_forward(out, x, Activation::Silu);
  EXPECT_NEAR(out.data<float>()[2], 0.31122967f, 1e-7);  // F.silu(0.5)
  EXPECT_NEAR(out.data<float>()[0], -0.23840584f, 1e-7);
  // Saturation stays finite.
  Tensor big = Tensor::from_f32({-200.f, 200.f}, {2});
  ops::activation_forward(out.slice_flat(0, {2}), big, Activation::Silu);
  EXPECT_EQ(out.data<float>()[0], -0.f);
  EXPECT_EQ(out.data<float>()[1], 200.f);
}

TEST(CnnActivation, InPlaceMatchesOutOfPlace) {
  for (Activation act : {Activation::Relu, Activation::Relu6, Activation::Silu, Activation::Sigmoid}) {
    Tensor x = randn({2, 3, 3, 5}, 1, 4.f), out = empty(x.shape()), y = x.clone();
    ops::activation_forward(out, x, act);
    ops::activation_forward(y, y, act);
    EXPECT_EQ(y.to_vector(), out.to_vector()) << ops::activation_name(act);
  }
}

TEST(CnnActivation, BackwardFiniteDifferencesFromInputAndOutput) {
  for (Activation act : {Activation::Relu, Activation::Relu6, Activation::Silu, Activation::Sigmoid}) {
    SCOPED_TRACE(ops::activation_name(act));
    Tensor x = randn({2, 3, 4, 3}, 2, 4.f), g = randn(x.shape(), 3), y = empty(x.shape());
    avoid_kinks(x, {0.f, 6.f});
    auto loss = [&] {
      ops::activation_forward(y, x, act);
      return dot(y, g);
    };
    Tensor dx = empty(x.shape());
    ops::activation_backward(dx, g, x, act, ActSaved::Input);
    expect_fd(x, dx, loss, 1e-2, 1e-3);
    if (act == Activation::Silu) continue;
    // From the output (what an in-place forward keeps), with dx aliasing dy.
    ops::activation_forward(y, x, act);
    Tensor dy = g.clone();
    ops::activation_backward(dy, dy, y, act, ActSaved::Output);
    EXPECT_LT(rel_err(dy.to_vector(), dx.to_vector()), 1e-6);
  }
}

TEST(CnnActivation, GradientAtKinksIsZeroLikeTorch) {
  Tensor x = Tensor::from_f32({0.f, 6.f, 5.999f, 1e-6f}, {4}), g = Tensor::from_f32({1.f, 1.f, 1.f, 1.f}, {4});
  Tensor dx = empty({4});
  ops::activation_backward(dx, g, x, Activation::Relu, ActSaved::Input);
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0.f, 1.f, 1.f, 1.f}));
  ops::activation_backward(dx, g, x, Activation::Relu6, ActSaved::Input);
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0.f, 0.f, 1.f, 1.f}));
}

TEST(CnnActivation, RejectsBadOperands) {
  Tensor x = randn({2, 3}, 1), g = randn({2, 3}, 2);
  EXPECT_THROW(ops::activation_forward(empty({3, 2}), x, Activation::Relu), Error);
  EXPECT_THROW(ops::activation_forward(Tensor::empty({2, 3}, DType::BF16), x, Activation::Relu), Error);
  EXPECT_THROW(ops::activation_backward(empty({6}), g, x, Activation::Relu, ActSaved::Input), Error);
  EXPECT_THROW(ops::activation_backward(empty({2, 3}), g, x, Activation::Silu, ActSaved::Output), Error);
  EXPECT_THROW(ops::activation_forward(empty({2, 3}), Tensor(), Activation::Relu), Error);
}

// ---------------------------------------------------------------- batch norm

namespace {

// The per-channel batch-norm state of one test: x[N,H,W,C] and its [C] vectors.
struct Bn {
  int64_t c;
  Tensor x, gamma, beta, out, mean, rstd, running_mean, running_var;
  Bn(const Shape& s, uint64_t seed)
      : c(s.back()),
        x(randn(s, seed, 2.f)),
        gamma(randn({s.back()}, seed + 1)),
        beta(randn({s.back()}, seed + 2)),
        out(empty(s)),
        mean(empty({s.back()})),
        rstd(empty({s.back()})),
        running_mean(Tensor::zeros({s.back()}, DType::F32)),
        running_var(Tensor::from_f32(std::vector<float>(s.back(), 1.f), {s.back()})) {}
  void train(float momentum = 0.1f, float eps = 1e-5f) {
    ops::batchnorm2d_forward_train(out, mean, rstd, running_mean, running_var, x, gamma, beta, momentum, eps);
  }
};

}  // namespace

TEST(CnnBatchnorm, TrainForwardMatchesNaive) {
  Bn bn({2, 3, 5, 4}, 10);
  for (int64_t i = 0; i < bn.x.numel(); ++i) bn.x.data<float>()[i] += 3.f * (i % 4);  // per-channel offsets
  bn.train();
  const int64_t rows = bn.x.numel() / bn.c;
  for (int64_t j = 0; j < bn.c; ++j) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < rows; ++i) m += bn.x.data<float>()[i * bn.c + j];
    m /= rows;
    for (int64_t i = 0; i < rows; ++i) v += std::pow(bn.x.data<float>()[i * bn.c + j] - m, 2);
    v /= rows;
    const double r = 1 / std::sqrt(v + 1e-5);
    EXPECT_NEAR(bn.mean.data<float>()[j], m, 1e-5);
    EXPECT_NEAR(bn.rstd.data<float>()[j], r, 1e-5);
    for (int64_t i = 0; i < rows; ++i) {
      const double want =
          (bn.x.data<float>()[i * bn.c + j] - m) * r * bn.gamma.data<float>()[j] + bn.beta.data<float>()[j];
      EXPECT_NEAR(bn.out.data<float>()[i * bn.c + j], want, 1e-5);
    }
  }
}

TEST(CnnBatchnorm, RunningStatsUpdateLikeTorch) {
  // One channel holding 1, 2, 3, 4 (N=1, H=2, W=2): mean 2.5, biased var 1.25, unbiased var 5/3.
  Tensor x = Tensor::from_f32({1.f, 2.f, 3.f, 4.f}, {1, 2, 2, 1});
  Tensor gamma = Tensor::from_f32({2.f}, {1}), beta = Tensor::from_f32({0.5f}, {1});
  Tensor out = empty({1, 2, 2, 1}), mean = empty({1}), rstd = empty({1});
  Tensor rm = Tensor::from_f32({1.f}, {1}), rv = Tensor::from_f32({2.f}, {1});
  ops::batchnorm2d_forward_train(out, mean, rstd, rm, rv, x, gamma, beta, 0.1f, 1e-5f);
  EXPECT_FLOAT_EQ(mean.data<float>()[0], 2.5f);
  EXPECT_NEAR(rstd.data<float>()[0], 1 / std::sqrt(1.25 + 1e-5), 1e-6);
  EXPECT_NEAR(rm.data<float>()[0], 0.9 * 1 + 0.1 * 2.5, 1e-6);          // 1.15
  EXPECT_NEAR(rv.data<float>()[0], 0.9 * 2 + 0.1 * (5.0 / 3.0), 1e-6);  // 1.9666667, unbiased
  EXPECT_NEAR(out.data<float>()[0], (1 - 2.5) / std::sqrt(1.25 + 1e-5) * 2 + 0.5, 1e-5);
  // A second step compounds: running = 0.9 * running + 0.1 * batch.
  ops::batchnorm2d_forward_train(out, mean, rstd, rm, rv, x, gamma, beta, 0.1f, 1e-5f);
  EXPECT_NEAR(rm.data<float>()[0], 0.9 * 1.15 + 0.1 * 2.5, 1e-6);
  EXPECT_NEAR(rv.data<float>()[0], 0.9 * (0.9 * 2 + 0.1 * 5.0 / 3.0) + 0.1 * 5.0 / 3.0, 1e-6);
  // Momentum 1 keeps only the batch; momentum 0 freezes the running statistics.
  ops::batchnorm2d_forward_train(out, mean, rstd, rm, rv, x, gamma, beta, 1.f, 1e-5f);
  EXPECT_FLOAT_EQ(rm.data<float>()[0], 2.5f);
  EXPECT_FLOAT_EQ(rv.data<float>()[0], 5.f / 3.f);
  Tensor rm0 = Tensor::from_f32({7.f}, {1}), rv0 = Tensor::from_f32({3.f}, {1});
  ops::batchnorm2d_forward_train(out, mean, rstd, rm0, rv0, x, gamma, beta, 0.f, 1e-5f);
  EXPECT_EQ(rm0.data<float>()[0], 7.f);
  EXPECT_EQ(rv0.data<float>()[0], 3.f);
}

TEST(CnnBatchnorm, EvalForwardUsesRunningStats) {
  // x = 3 with running mean 1, var 3, eps 1: (3 - 1) / sqrt(4) * gamma 2 + beta -1 = 1.
  Tensor x = Tensor::from_f32({3.f, 1.f}, {1, 1, 1, 2});
  Tensor gamma = Tensor::from_f32({2.f, 1.f}, {2}), beta = Tensor::from_f32({-1.f, 0.f}, {2});
  Tensor rm = Tensor::from_f32({1.f, 0.f}, {2}), rv = Tensor::from_f32({3.f, 0.f}, {2});
  Tensor out = empty({1, 1, 1, 2});
  ops::batchnorm2d_forward_eval(out, x, gamma, beta, rm, rv, 1.f);
  EXPECT_FLOAT_EQ(out.data<float>()[0], 1.f);
  EXPECT_FLOAT_EQ(out.data<float>()[1], 1.f);  // (1 - 0) / sqrt(0 + 1) * 1 + 0
  // In place, and a batch of one pixel is fine in eval mode.
  ops::batchnorm2d_forward_eval(x, x, gamma, beta, rm, rv, 1.f);
  EXPECT_EQ(x.to_vector(), out.to_vector());
}

TEST(CnnBatchnorm, TrainBackwardFiniteDifferences) {
  Bn bn({2, 3, 2, 3}, 20);
  Tensor g = randn(bn.x.shape(), 23);
  auto loss = [&] {
    bn.train();
    return dot(bn.out, g);
  };
  bn.train();
  Tensor dx = empty(bn.x.shape()), dgamma = Tensor::from_f32({1.f, 2.f, 3.f}, {3}),
         dbeta = Tensor::zeros({3}, DType::F32);
  ops::batchnorm2d_backward_train(dx, dgamma, dbeta, g, bn.x, bn.gamma, bn.mean, bn.rstd);
  expect_fd(bn.x, dx, loss, 1e-2, 2e-3);
  expect_fd(bn.beta, dbeta, loss, 1e-2, 2e-3);
  for (int j = 0; j < 3; ++j) dgamma.data<float>()[j] -= float(j + 1);  // it accumulated into 1, 2, 3
  expect_fd(bn.gamma, dgamma, loss, 1e-2, 2e-3);
  // dx may alias dy.
  Tensor dy = g.clone(), dg2 = Tensor::zeros({3}, DType::F32), db2 = Tensor::zeros({3}, DType::F32);
  ops::batchnorm2d_backward_train(dy, dg2, db2, dy, bn.x, bn.gamma, bn.mean, bn.rstd);
  EXPECT_EQ(dy.to_vector(), dx.to_vector());
}

TEST(CnnBatchnorm, FrozenBackwardFiniteDifferences) {
  Bn bn({2, 2, 3, 4}, 30);
  bn.running_mean = randn({4}, 31);
  for (int j = 0; j < 4; ++j) bn.running_var.data<float>()[j] = 0.5f + j;
  Tensor g = randn(bn.x.shape(), 32);
  auto loss = [&] {
    ops::batchnorm2d_forward_eval(bn.out, bn.x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, 1e-3f);
    return dot(bn.out, g);
  };
  Tensor dx = empty(bn.x.shape()), dgamma = Tensor::zeros({4}, DType::F32), dbeta = Tensor::zeros({4}, DType::F32);
  ops::batchnorm2d_backward_eval(dx, dgamma, dbeta, g, bn.x, bn.gamma, bn.running_mean, bn.running_var, 1e-3f);
  expect_fd(bn.x, dx, loss, 1e-2, 1e-3);
  expect_fd(bn.gamma, dgamma, loss, 1e-2, 1e-3);
  expect_fd(bn.beta, dbeta, loss, 1e-2, 1e-3);
  // dx = dy * gamma / sqrt(running_var + eps), also with the affine weights frozen (no dgamma/dbeta).
  Tensor dx2 = empty(bn.x.shape());
  ops::batchnorm2d_backward_eval(dx2, Tensor(), Tensor(), g, bn.x, bn.gamma, bn.running_mean, bn.running_var, 1e-3f);
  EXPECT_EQ(dx2.to_vector(), dx.to_vector());
  EXPECT_NEAR(dx.data<float>()[5], g.data<float>()[5] * bn.gamma.data<float>()[1] / std::sqrt(1.5 + 1e-3), 1e-6);
}

TEST(CnnBatchnorm, RejectsBadShapes) {
  Bn bn({2, 2, 2, 3}, 40);
  auto train = [&](const Tensor& out, const Tensor& x, const Tensor& gamma) {
    ops::batchnorm2d_forward_train(out, bn.mean, bn.rstd, bn.running_mean, bn.running_var, x, gamma, bn.beta, 0.1f,
                                   1e-5f);
  };
  EXPECT_THROW(train(bn.out, bn.x, randn({4}, 1)), Error);                            // gamma not [C]
  EXPECT_THROW(train(empty({2, 2, 2, 4}), bn.x, bn.gamma), Error);                    // out not x's shape
  EXPECT_THROW(train(empty({1, 1, 1, 3}), randn({1, 1, 1, 3}, 2), bn.gamma), Error);  // one value per channel
  EXPECT_THROW(train(bn.out, Tensor(), bn.gamma), Error);
  EXPECT_THROW(ops::batchnorm2d_forward_train(bn.out, bn.mean, bn.rstd, bn.running_mean, bn.running_var, bn.x, bn.gamma,
                                              bn.beta, 1.5f, 1e-5f),
               Error);  // momentum outside [0, 1]
  EXPECT_THROW(ops::batchnorm2d_forward_eval(bn.out, bn.x, bn.gamma, bn.beta, bn.running_mean, empty({2}), 1e-5f),
               Error);
  EXPECT_THROW(ops::batchnorm2d_forward_eval(bn.out, bn.x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, 0.f),
               Error);  // eps must be positive
  EXPECT_THROW(ops::batchnorm2d_backward_train(empty({2, 2, 2, 3}), empty({3}), empty({2}), bn.out, bn.x, bn.gamma,
                                               bn.mean, bn.rstd),
               Error);  // dbeta not [C]
  EXPECT_THROW(ops::batchnorm2d_backward_eval(empty({2, 2, 2, 3}), empty({2}), Tensor(), bn.out, bn.x, bn.gamma,
                                              bn.running_mean, bn.running_var, 1e-5f),
               Error);  // a defined dgamma must be [C]
}

// ---------------------------------------------------------------- pooling

namespace {

// Naive pooling straight from torch's definitions: out[n,p,q,c] = reduce over the window of a
// zero-or-(-inf)-padded image. kind 0: max (argmax kept), 1: avg counting padding, 2: avg without.
struct Naive {
  std::vector<float> out;
  std::vector<int32_t> idx;
};
Naive naive_pool(const Tensor& x, const Pool2dWindow& win, int kind) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t p = win.out_h(h), q = win.out_w(w);
  Naive r;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < p; ++i)
      for (int64_t j = 0; j < q; ++j)
        for (int64_t ch = 0; ch < c; ++ch) {
          double best = -kInf, sum = 0;
          int32_t arg = -1, real = 0;
          for (int64_t di = 0; di < win.r; ++di)
            for (int64_t dj = 0; dj < win.s; ++dj) {
              const int64_t y = i * win.stride_h - win.pad_h + di, z = j * win.stride_w - win.pad_w + dj;
              if (y < 0 || y >= h || z < 0 || z >= w) continue;  // padding: -inf for max, 0 for sums
              const float v = at(x, b, y, z, ch);
              ++real;
              sum += v;
              if (v > best) best = v, arg = static_cast<int32_t>(y * w + z);
            }
          r.out.push_back(float(kind == 0 ? best : sum / (kind == 1 ? win.r * win.s : real)));
          r.idx.push_back(arg);
        }
  return r;
}

// Naive adaptive average pooling to [P,Q].
std::vector<float> naive_adaptive(const Tensor& x, int64_t p, int64_t q) {
  const int64_t h = x.dim(1), w = x.dim(2);
  std::vector<float> out;
  for (int64_t b = 0; b < x.dim(0); ++b)
    for (int64_t i = 0; i < p; ++i)
      for (int64_t j = 0; j < q; ++j)
        for (int64_t ch = 0; ch < x.dim(3); ++ch) {
          const int64_t h0 = int64_t(std::floor(double(i * h) / p)), h1 = int64_t(std::ceil(double((i + 1) * h) / p));
          const int64_t w0 = int64_t(std::floor(double(j * w) / q)), w1 = int64_t(std::ceil(double((j + 1) * w) / q));
          double sum = 0;
          for (int64_t y = h0; y < h1; ++y)
            for (int64_t z = w0; z < w1; ++z) sum += at(x, b, y, z, ch);
          out.push_back(float(sum / ((h1 - h0) * (w1 - w0))));
        }
  return out;
}

// Shapes swept by the pooling tests: odd sizes, padding, overlapping and non-square windows.
struct PoolCase {
  Shape x;
  Pool2dWindow win;
};
std::vector<PoolCase> pool_cases() {
  return {{{2, 4, 4, 3}, Pool2dWindow::square(2, 2, 0)}, {{1, 7, 7, 2}, Pool2dWindow::square(3, 2, 1)},  // ResNet stem
          {{2, 5, 6, 3}, Pool2dWindow::square(3, 1, 1)}, {{1, 6, 5, 2}, Pool2dWindow{3, 2, 2, 1, 1, 0}},
          {{1, 3, 3, 1}, Pool2dWindow::square(3, 3, 0)}, {{1, 5, 5, 4}, Pool2dWindow::square(2, 3, 1)}};
}

}  // namespace

TEST(CnnPool, MaxForwardMatchesNaive) {
  for (const PoolCase& pc : pool_cases()) {
    Tensor x = randn(pc.x, 50);
    const Shape os{pc.x[0], pc.win.out_h(pc.x[1]), pc.win.out_w(pc.x[2]), pc.x[3]};
    Tensor out = empty(os), idx = Tensor::empty(os, DType::I32);
    ops::max_pool2d_forward(out, idx, x, pc.win);
    const Naive want = naive_pool(x, pc.win, 0);
    EXPECT_EQ(out.to_vector(), want.out) << shape_str(pc.x);
    EXPECT_EQ(std::vector<int32_t>(idx.data<int32_t>(), idx.data<int32_t>() + idx.numel()), want.idx);
  }
}

TEST(CnnPool, MaxHandCaseTiesAndNegativePadding) {
  // 4x4 single channel, window 2 stride 2:  [1 5 | 2 2]      max 5 at (0,1); tie of 2s -> first (0,2)
  //                                         [3 0 | 2 2]
  //                                         [-1 -2 | 9 9]    max -1 at (2,0); tie of 9s -> (2,2)
  //                                         [-3 -4 | 9 9]
  Tensor x = Tensor::from_f32({1, 5, 2, 2, 3, 0, 2, 2, -1, -2, 9, 9, -3, -4, 9, 9}, {1, 4, 4, 1});
  Tensor out = empty({1, 2, 2, 1}), idx = Tensor::empty({1, 2, 2, 1}, DType::I32);
  ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(2, 2, 0));
  EXPECT_EQ(out.to_vector(), (std::vector<float>{5, 2, -1, 9}));
  EXPECT_EQ(std::vector<int32_t>(idx.data<int32_t>(), idx.data<int32_t>() + 4), (std::vector<int32_t>{1, 2, 8, 10}));
  // Padding is -inf, not 0: an all-negative image keeps its negative maxima at the borders.
  Tensor neg = Tensor::from_f32({-5, -4, -3, -2}, {1, 2, 2, 1});
  Tensor o2 = empty({1, 2, 2, 1}), i2 = Tensor::empty({1, 2, 2, 1}, DType::I32);
  ops::max_pool2d_forward(o2, i2, neg, Pool2dWindow::square(2, 2, 1));  // each window: 1 pixel + 3 of padding
  EXPECT_EQ(o2.to_vector(), (std::vector<float>{-5, -4, -3, -2}));
  EXPECT_EQ(std::vector<int32_t>(i2.data<int32_t>(), i2.data<int32_t>() + 4), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(CnnPool, MaxAllMinusInfAndNan) {
  // A window of -inf points at its first real pixel (as torch); a NaN wins and propagates.
  Tensor x = Tensor::from_f32({-kInf, -kInf, 1.f, std::nanf(""), -kInf, -kInf, 3.f, 2.f}, {1, 2, 4, 1});
  Tensor out = empty({1, 1, 2, 1}), idx = Tensor::empty({1, 1, 2, 1}, DType::I32);
  ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(2, 2, 0));
  EXPECT_EQ(out.data<float>()[0], -kInf);
  EXPECT_EQ(idx.data<int32_t>()[0], 0);
  EXPECT_TRUE(std::isnan(out.data<float>()[1]));
  EXPECT_EQ(idx.data<int32_t>()[1], 3);  // the NaN at (0,3), not the larger-looking 3 after it
}

TEST(CnnPool, MaxBackwardFiniteDifferences) {
  for (const PoolCase& pc : pool_cases()) {
    SCOPED_TRACE(shape_str(pc.x));
    Tensor x = distinct(pc.x, 60);
    const Shape os{pc.x[0], pc.win.out_h(pc.x[1]), pc.win.out_w(pc.x[2]), pc.x[3]};
    Tensor out = empty(os), idx = Tensor::empty(os, DType::I32), g = randn(os, 61);
    auto loss = [&] {
      ops::max_pool2d_forward(out, idx, x, pc.win);
      return dot(out, g);
    };
    loss();
    Tensor dx = randn(pc.x, 62);  // overwritten, not accumulated into
    ops::max_pool2d_backward(dx, g, idx);
    expect_fd(x, dx, loss, 1e-2, 1e-3);
  }
}

TEST(CnnPool, MaxBackwardSumsOverlappingWindows) {
  // 3x3 window, stride 1, padding 1 over a 3x3 image whose centre is the largest: every one of the
  // nine windows picks it, so it receives the sum of all nine output gradients.
  std::vector<float> v(9, 0.f);
  v[4] = 1.f;
  Tensor x = Tensor::from_f32(v, {1, 3, 3, 1}), out = empty({1, 3, 3, 1}),
         idx = Tensor::empty({1, 3, 3, 1}, DType::I32);
  ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(3, 1, 1));
  Tensor g = Tensor::from_f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1}), dx = empty({1, 3, 3, 1});
  ops::max_pool2d_backward(dx, g, idx);
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0, 0, 0, 0, 45, 0, 0, 0, 0}));
}

TEST(CnnPool, AvgForwardMatchesNaiveBothPadCountings) {
  for (const PoolCase& pc : pool_cases())
    for (PadCounting counting : {PadCounting::Include, PadCounting::Exclude}) {
      Tensor x = randn(pc.x, 70);
      Tensor out = empty({pc.x[0], pc.win.out_h(pc.x[1]), pc.win.out_w(pc.x[2]), pc.x[3]});
      ops::avg_pool2d_forward(out, x, pc.win, counting);
      const Naive want = naive_pool(x, pc.win, counting == PadCounting::Include ? 1 : 2);
      EXPECT_LT(rel_err(out.to_vector(), want.out), 1e-6) << shape_str(pc.x);
    }
}

TEST(CnnPool, AvgHandCaseCornerWithPadding) {
  // 2x2 image 1 2 / 3 4, window 3 stride 1 padding 1 -> 2x2 output; every window holds all four
  // pixels and five padding zeros: torch's default divides by 9, count_include_pad=False by 4.
  Tensor x = Tensor::from_f32({1, 2, 3, 4}, {1, 2, 2, 1}), out = empty({1, 2, 2, 1});
  ops::avg_pool2d_forward(out, x, Pool2dWindow::square(3, 1, 1));
  for (float v : out.to_vector()) EXPECT_FLOAT_EQ(v, 10.f / 9.f);
  ops::avg_pool2d_forward(out, x, Pool2dWindow::square(3, 1, 1), PadCounting::Exclude);
  for (float v : out.to_vector()) EXPECT_FLOAT_EQ(v, 2.5f);
}

TEST(CnnPool, AvgBackwardFiniteDifferences) {
  for (const PoolCase& pc : pool_cases())
    for (PadCounting counting : {PadCounting::Include, PadCounting::Exclude}) {
      SCOPED_TRACE(shape_str(pc.x));
      Tensor x = randn(pc.x, 80);
      const Shape os{pc.x[0], pc.win.out_h(pc.x[1]), pc.win.out_w(pc.x[2]), pc.x[3]};
      Tensor out = empty(os), g = randn(os, 81);
      auto loss = [&] {
        ops::avg_pool2d_forward(out, x, pc.win, counting);
        return dot(out, g);
      };
      Tensor dx = randn(pc.x, 82);
      ops::avg_pool2d_backward(dx, g, pc.win, counting);
      expect_fd(x, dx, loss, 1e-2, 1e-3);
    }
}

TEST(CnnPool, AdaptiveHandCaseUsesTorchIndexFormula) {
  // H = 5 to P = 3: rows [0,2), [1,4), [3,5) (start floor(i*5/3), end ceil((i+1)*5/3)); W = 1 to Q = 1.
  Tensor x = Tensor::from_f32({1, 2, 3, 4, 5}, {1, 5, 1, 1}), out = empty({1, 3, 1, 1});
  ops::adaptive_avg_pool2d_forward(out, x);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{1.5f, 3.f, 4.5f}));
  // Upsampling (P > H) repeats rows: H = 2 to P = 3 gives rows [0,1), [0,2), [1,2).
  Tensor x2 = Tensor::from_f32({2, 4}, {1, 2, 1, 1}), out2 = empty({1, 3, 1, 1});
  ops::adaptive_avg_pool2d_forward(out2, x2);
  EXPECT_EQ(out2.to_vector(), (std::vector<float>{2.f, 3.f, 4.f}));
}

TEST(CnnPool, AdaptiveMatchesNaiveAndFiniteDifferences) {
  const std::vector<std::pair<Shape, std::pair<int64_t, int64_t>>> cases = {
      {{2, 7, 7, 3}, {1, 1}}, {{1, 5, 7, 2}, {3, 2}}, {{2, 6, 4, 2}, {4, 3}}, {{1, 3, 2, 2}, {5, 4}}};
  for (const auto& [xs, pq] : cases) {
    SCOPED_TRACE(shape_str(xs));
    Tensor x = randn(xs, 90);
    const Shape os{xs[0], pq.first, pq.second, xs[3]};
    Tensor out = empty(os), g = randn(os, 91);
    ops::adaptive_avg_pool2d_forward(out, x);
    EXPECT_LT(rel_err(out.to_vector(), naive_adaptive(x, pq.first, pq.second)), 1e-6);
    auto loss = [&] {
      ops::adaptive_avg_pool2d_forward(out, x);
      return dot(out, g);
    };
    Tensor dx = randn(xs, 92);
    ops::adaptive_avg_pool2d_backward(dx, g);
    expect_fd(x, dx, loss, 1e-2, 1e-3);
  }
}

TEST(CnnPool, GlobalAverageIsTheMeanAndSpreadsGradients) {
  Tensor x = randn({2, 3, 4, 5}, 100), out = empty({2, 5});
  ops::global_avg_pool2d_forward(out, x);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c) {
      double m = 0;
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 4; ++w) m += at(x, n, h, w, c);
      EXPECT_NEAR(out.data<float>()[n * 5 + c], m / 12, 1e-6);
    }
  Tensor g = randn({2, 5}, 101), dx = empty(x.shape());
  ops::global_avg_pool2d_backward(dx, g);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c) EXPECT_FLOAT_EQ(at(dx, n, 2, 3, c), g.data<float>()[n * 5 + c] / 12);
  auto loss = [&] {
    ops::global_avg_pool2d_forward(out, x);
    return dot(out, g);
  };
  expect_fd(x, dx, loss, 1e-2, 1e-3);
}

TEST(CnnPool, RejectsBadShapesAndWindows) {
  Tensor x = randn({1, 4, 4, 2}, 1), out = empty({1, 2, 2, 2}), idx = Tensor::empty({1, 2, 2, 2}, DType::I32);
  const Pool2dWindow k2 = Pool2dWindow::square(2, 2, 0);
  EXPECT_NO_THROW(ops::max_pool2d_forward(out, idx, x, k2));
  EXPECT_THROW(ops::max_pool2d_forward(empty({1, 3, 3, 2}), idx, x, k2), Error);  // out not [N,P,Q,C]
  EXPECT_THROW(ops::max_pool2d_forward(out, Tensor::empty({1, 2, 2, 2}, DType::F32), x, k2), Error);  // indices f32
  EXPECT_THROW(ops::max_pool2d_forward(out, idx, randn({4, 4, 2}, 2), k2), Error);                    // x not 4-D
  EXPECT_THROW(ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(2, 2, 2)), Error);           // pad > window/2
  EXPECT_THROW(ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(0, 2, 0)), Error);           // empty window
  EXPECT_THROW(ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(2, 0, 0)), Error);           // zero stride
  EXPECT_THROW(ops::max_pool2d_forward(out, idx, x, Pool2dWindow::square(5, 1, 0)), Error);           // window > image
  EXPECT_THROW(ops::max_pool2d_backward(empty({1, 4, 4, 3}), out, idx), Error);                       // C differs
  EXPECT_THROW(ops::max_pool2d_backward(empty({1, 4, 4, 2}), out, Tensor::empty({1, 2, 1, 2}, DType::I32)), Error);
  idx.data<int32_t>()[3] = 16;  // outside the 4x4 plane
  EXPECT_THROW(ops::max_pool2d_backward(empty({1, 4, 4, 2}), out, idx), Error);
  EXPECT_THROW(ops::avg_pool2d_forward(empty({1, 2, 2, 3}), x, k2), Error);
  EXPECT_THROW(ops::avg_pool2d_backward(empty({1, 4, 4, 2}), empty({1, 3, 2, 2}), k2), Error);
  EXPECT_THROW(ops::adaptive_avg_pool2d_forward(empty({2, 3, 3, 2}), x), Error);  // N differs
  EXPECT_THROW(ops::adaptive_avg_pool2d_forward(empty({1, 0, 3, 2}), x), Error);  // P = 0
  EXPECT_THROW(ops::adaptive_avg_pool2d_backward(empty({1, 4, 4, 2}), empty({1, 2, 2, 1})), Error);
  EXPECT_THROW(ops::global_avg_pool2d_forward(empty({1, 1, 1, 2}), x), Error);  // out must be [N,C]
  EXPECT_THROW(ops::global_avg_pool2d_backward(empty({1, 4, 4, 2}), empty({1, 3})), Error);
}
