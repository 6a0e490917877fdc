// CPU convolution over NHWC, three paths chosen by kernels/conv2d.h's Conv2dDims:
//  - pointwise (1x1, stride 1, unpadded): x is already the GEMM operand [N*H*W, C]; one sgemm per group.
//  - depthwise (groups == C): direct loops, channels innermost (one contiguous row of C per pixel),
//    the filter transposed to [R*S, K] so the inner loop runs over K with unit stride.
//  - general: im2col of a chunk of images into a thread-local buffer col[images*P*Q, R*S*C/groups]
//    (the row order of a KRSC filter row), then one OpenBLAS sgemm per group over the whole chunk.
//    Backward-data multiplies dy by w into col and folds it back with a gather col2im (each dx pixel
//    sums the col entries that read it, so rows run in parallel with no write conflicts);
//    backward-filter accumulates dy^T * col into dw chunk by chunk.
// im2col/col2im run OpenMP over (image, row); the sgemms are large and use OpenBLAS's own threads.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/ref/vision_ref_ops.h"

namespace temper::ref {
namespace {

using ops::Conv2dDims;

// Floats in one im2col chunk (32 MiB): bounds the scratch while keeping the GEMMs large.
constexpr int64_t kColBudget = int64_t(1) << 23;

int blas_int(int64_t v) {
  TEMPER_CHECK(v <= INT_MAX, "conv2d (cpu): GEMM dimension {} exceeds the BLAS int range", v);
  return static_cast<int>(v);
}

// Row-major C[m,n] = alpha * op(A) op(B) + beta * C with leading dimensions lda, ldb, ldc.
void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
           float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blas_int(m), blas_int(n),
              blas_int(k), 1.f, a, blas_int(lda), b, blas_int(ldb), beta, c, blas_int(ldc));
}

// The calling thread's scratch of at least `count` floats, kept between calls.
float* scratch(int64_t count) {
  thread_local std::vector<float> buf;
  if (buf.size() < static_cast<size_t>(count)) buf.resize(static_cast<size_t>(count));
  return buf.data();
}

int64_t col_width(const Conv2dDims& d) { return d.r * d.s * d.cg(); }  // R*S*C/groups
int64_t pixels_out(const Conv2dDims& d) { return d.p * d.q; }          // P*Q

// Images per im2col chunk: as many as fit the budget, at least one.
int64_t chunk_images(const Conv2dDims& d) {
  const int64_t per_image = pixels_out(d) * col_width(d);
  return std::clamp<int64_t>(kColBudget / per_image, 1, d.n);
}

// Input row (column) read by output row p (column q) through filter row r (column s); may be outside.
int64_t in_row(const Conv2dDims& d, int64_t p, int64_t r) {
  return p * d.prm.stride_h - d.prm.pad_h + r * d.prm.dilation_h;
}
int64_t in_col(const Conv2dDims& d, int64_t q, int64_t s) {
  return q * d.prm.stride_w - d.prm.pad_w + s * d.prm.dilation_w;
}

// The output row (column) that reads input row h (column w) through filter row r (column s), or -1.
int64_t out_row(const Conv2dDims& d, int64_t h, int64_t r) {
  const int64_t t = h + d.prm.pad_h - r * d.prm.dilation_h;
  if (t < 0 || t % d.prm.stride_h != 0 || t / d.prm.stride_h >= d.p) return -1;
  return t / d.prm.stride_h;
}
int64_t out_col(const Conv2dDims& d, int64_t w, int64_t s) {
  const int64_t t = w + d.prm.pad_w - s * d.prm.dilation_w;
  if (t < 0 || t % d.prm.stride_w != 0 || t / d.prm.stride_w >= d.q) return -1;
  return t / d.prm.stride_w;
}

// ---------------------------------------------------------------- im2col / col2im

// One col row: the R*S windows of output pixel (n, p, q), channels [g*cg, (g+1)*cg) each, zeros outside.
void im2col_pixel(float* dst, const float* x, const Conv2dDims& d, int64_t n, int64_t p, int64_t q, int64_t g) {
  const int64_t cg = d.cg();
  for (int64_t r = 0; r < d.r; ++r) {
    const int64_t h = in_row(d, p, r);
    for (int64_t s = 0; s < d.s; ++s) {
      const int64_t w = in_col(d, q, s);
      float* o = dst + (r * d.s + s) * cg;
      if (h < 0 || h >= d.h || w < 0 || w >= d.w) {
        std::fill(o, o + cg, 0.f);
      } else {
        std::memcpy(o, x + ((n * d.h + h) * d.w + w) * d.c + g * cg, static_cast<size_t>(cg) * sizeof(float));
      }
    }
  }
}

// col[nb*P*Q, R*S*cg] from images [n0, n0+nb) of x[N,H,W,C], group g.
void im2col(float* col, const float* x, const Conv2dDims& d, int64_t n0, int64_t nb, int64_t g) {
  const int64_t width = col_width(d);
#pragma omp parallel for collapse(2)
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t p = 0; p < d.p; ++p)
      for (int64_t q = 0; q < d.q; ++q) im2col_pixel(col + ((i * d.p + p) * d.q + q) * width, x, d, n0 + i, p, q, g);
}

// dx pixel (n, h, w), channels of group g = the sum of the col entries that read it.
void col2im_pixel(float* o, const float* col, const Conv2dDims& d, int64_t i, int64_t h, int64_t w) {
  const int64_t cg = d.cg(), width = col_width(d);
  std::fill(o, o + cg, 0.f);
  for (int64_t r = 0; r < d.r; ++r) {
    const int64_t p = out_row(d, h, r);
    if (p < 0) continue;
    for (int64_t s = 0; s < d.s; ++s) {
      const int64_t q = out_col(d, w, s);
      if (q < 0) continue;
      const float* src = col + ((i * d.p + p) * d.q + q) * width + (r * d.s + s) * cg;
      for (int64_t c = 0; c < cg; ++c) o[c] += src[c];
    }
  }
}

// dx images [n0, n0+nb), group g's channels, overwritten from col[nb*P*Q, R*S*cg].
void col2im(float* dx, const float* col, const Conv2dDims& d, int64_t n0, int64_t nb, int64_t g) {
#pragma omp parallel for collapse(2)
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t h = 0; h < d.h; ++h)
      for (int64_t w = 0; w < d.w; ++w)
        col2im_pixel(dx + (((n0 + i) * d.h + h) * d.w + w) * d.c + g * d.cg(), col, d, i, h, w);
}

// ---------------------------------------------------------------- GEMM paths

// body(col, n0, nb, g) for every chunk of nb images from n0 and every group g, in that order, with one
// scratch col matrix sized for a chunk.
template <class Body>
void for_chunks_and_groups(const Conv2dDims& d, Body body) {
  const int64_t chunk = chunk_images(d);
  float* col = scratch(chunk * pixels_out(d) * col_width(d));
  for (int64_t n0 = 0; n0 < d.n; n0 += chunk) {
    const int64_t nb = std::min(chunk, d.n - n0);
    for (int64_t g = 0; g < d.prm.groups; ++g) body(col, n0, nb, g);
  }
}

// y[N*P*Q, K] columns of group g = col * w_g^T, chunk by chunk.
void forward_im2col(float* y, const float* x, const float* w, const Conv2dDims& d) {
  const int64_t width = col_width(d), kg = d.kg(), pq = pixels_out(d);
  for_chunks_and_groups(d, [&](float* col, int64_t n0, int64_t nb, int64_t g) {
    im2col(col, x, d, n0, nb, g);
    sgemm(false, true, nb * pq, kg, width, col, width, w + g * kg * width, width, 0.f, y + n0 * pq * d.k + g * kg, d.k);
  });
}

// dx: col = dy_g * w_g, folded back by col2im, chunk by chunk.
void backward_data_im2col(float* dx, const float* dy, const float* w, const Conv2dDims& d) {
  const int64_t width = col_width(d), kg = d.kg(), pq = pixels_out(d);
  for_chunks_and_groups(d, [&](float* col, int64_t n0, int64_t nb, int64_t g) {
    sgemm(false, false, nb * pq, width, kg, dy + n0 * pq * d.k + g * kg, d.k, w + g * kg * width, width, 0.f, col,
          width);
    col2im(dx, col, d, n0, nb, g);
  });
}

// dw_g[K/groups, R*S*cg] = sum over chunks of dy_g^T * col.
void backward_filter_im2col(float* dw, const float* dy, const float* x, const Conv2dDims& d) {
  const int64_t width = col_width(d), kg = d.kg(), pq = pixels_out(d);
  for_chunks_and_groups(d, [&](float* col, int64_t n0, int64_t nb, int64_t g) {
    im2col(col, x, d, n0, nb, g);
    sgemm(true, false, kg, width, nb * pq, dy + n0 * pq * d.k + g * kg, d.k, col, width, n0 == 0 ? 0.f : 1.f,
          dw + g * kg * width, width);
  });
}

// 1x1 stride 1 unpadded: x[N*H*W, C] is the col matrix itself (P = H, Q = W).
void forward_pointwise(float* y, const float* x, const float* w, const Conv2dDims& d) {
  const int64_t cg = d.cg(), kg = d.kg(), rows = d.n * d.h * d.w;
  for (int64_t g = 0; g < d.prm.groups; ++g)
    sgemm(false, true, rows, kg, cg, x + g * cg, d.c, w + g * kg * cg, cg, 0.f, y + g * kg, d.k);
}

void backward_data_pointwise(float* dx, const float* dy, const float* w, const Conv2dDims& d) {
  const int64_t cg = d.cg(), kg = d.kg(), rows = d.n * d.h * d.w;
  for (int64_t g = 0; g < d.prm.groups; ++g)
    sgemm(false, false, rows, cg, kg, dy + g * kg, d.k, w + g * kg * cg, cg, 0.f, dx + g * cg, d.c);
}

void backward_filter_pointwise(float* dw, const float* dy, const float* x, const Conv2dDims& d) {
  const int64_t cg = d.cg(), kg = d.kg(), rows = d.n * d.h * d.w;
  for (int64_t g = 0; g < d.prm.groups; ++g)
    sgemm(true, false, kg, cg, rows, dy + g * kg, d.k, x + g * cg, d.c, 0.f, dw + g * kg * cg, cg);
}

// ---------------------------------------------------------------- depthwise direct loops
// Output channel k = c*M + j reads input channel c (M = K/C, the channel multiplier).

// wt[R*S, K] from w[K,R,S,1].
std::vector<float> transpose_filter(const float* w, const Conv2dDims& d) {
  const int64_t rs = d.r * d.s;
  std::vector<float> wt(static_cast<size_t>(rs * d.k));
  for (int64_t k = 0; k < d.k; ++k)
    for (int64_t t = 0; t < rs; ++t) wt[t * d.k + k] = w[k * rs + t];
  return wt;
}

// o[K] += xi[C] (each repeated M times) * wk[K].
void depthwise_madd(float* o, const float* xi, const float* wk, int64_t c, int64_t m) {
  if (m == 1) {
    for (int64_t k = 0; k < c; ++k) o[k] += xi[k] * wk[k];
    return;
  }
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t j = 0; j < m; ++j) o[ci * m + j] += xi[ci] * wk[ci * m + j];
}

// o[C] += the M products g[K] * wk[K] of each input channel.
void depthwise_dot(float* o, const float* g, const float* wk, int64_t c, int64_t m) {
  if (m == 1) {
    for (int64_t k = 0; k < c; ++k) o[k] += g[k] * wk[k];
    return;
  }
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t j = 0; j < m; ++j) o[ci] += g[ci * m + j] * wk[ci * m + j];
}

void forward_depthwise(float* y, const float* x, const float* w, const float* bias, const Conv2dDims& d) {
  const std::vector<float> wt = transpose_filter(w, d);
  const int64_t m = d.kg();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t p = 0; p < d.p; ++p)
      for (int64_t q = 0; q < d.q; ++q) {
        float* o = y + ((n * d.p + p) * d.q + q) * d.k;
        for (int64_t k = 0; k < d.k; ++k) o[k] = bias ? bias[k] : 0.f;
        for (int64_t r = 0; r < d.r; ++r) {
          const int64_t h = in_row(d, p, r);
          if (h < 0 || h >= d.h) continue;
          for (int64_t s = 0; s < d.s; ++s) {
            const int64_t ww = in_col(d, q, s);
            if (ww < 0 || ww >= d.w) continue;
            depthwise_madd(o, x + ((n * d.h + h) * d.w + ww) * d.c, wt.data() + (r * d.s + s) * d.k, d.c, m);
          }
        }
      }
}

// Gather form: dx pixel (n, h, w) sums dy over the output pixels that read it.
void backward_data_depthwise(float* dx, const float* dy, const float* w, const Conv2dDims& d) {
  const std::vector<float> wt = transpose_filter(w, d);
  const int64_t m = d.kg();
#pragma omp parallel for collapse(2)
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t h = 0; h < d.h; ++h)
      for (int64_t ww = 0; ww < d.w; ++ww) {
        float* o = dx + ((n * d.h + h) * d.w + ww) * d.c;
        std::fill(o, o + d.c, 0.f);
        for (int64_t r = 0; r < d.r; ++r) {
          const int64_t p = out_row(d, h, r);
          if (p < 0) continue;
          for (int64_t s = 0; s < d.s; ++s) {
            const int64_t q = out_col(d, ww, s);
            if (q < 0) continue;
            depthwise_dot(o, dy + ((n * d.p + p) * d.q + q) * d.k, wt.data() + (r * d.s + s) * d.k, d.c, m);
          }
        }
      }
}

// dwt[R*S, K] += the products of output row (n, p), into one thread's partial sums.
void depthwise_filter_row(float* dwt, const float* dy, const float* x, const Conv2dDims& d, int64_t n, int64_t p) {
  for (int64_t q = 0; q < d.q; ++q) {
    const float* g = dy + ((n * d.p + p) * d.q + q) * d.k;
    for (int64_t r = 0; r < d.r; ++r) {
      const int64_t h = in_row(d, p, r);
      if (h < 0 || h >= d.h) continue;
      for (int64_t s = 0; s < d.s; ++s) {
        const int64_t w = in_col(d, q, s);
        if (w < 0 || w >= d.w) continue;
        depthwise_madd(dwt + (r * d.s + s) * d.k, x + ((n * d.h + h) * d.w + w) * d.c, g, d.c, d.kg());
      }
    }
  }
}

void backward_filter_depthwise(float* dw, const float* dy, const float* x, const Conv2dDims& d) {
  const int64_t rs = d.r * d.s;
  std::vector<float> dwt(static_cast<size_t>(rs * d.k), 0.f);
#pragma omp parallel
  {
    std::vector<float> part(dwt.size(), 0.f);
#pragma omp for collapse(2) nowait
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t p = 0; p < d.p; ++p) depthwise_filter_row(part.data(), dy, x, d, n, p);
#pragma omp critical
    for (size_t i = 0; i < dwt.size(); ++i) dwt[i] += part[i];
  }
  for (int64_t k = 0; k < d.k; ++k)
    for (int64_t t = 0; t < rs; ++t) dw[k * rs + t] = dwt[t * d.k + k];
}

// ---------------------------------------------------------------- bias

// y[rows, K] += bias[K].
void add_bias(float* y, const float* bias, int64_t rows, int64_t k) {
#pragma omp parallel for
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < k; ++j) y[i * k + j] += bias[j];
}

// db[K] = column sums of dy[rows, K], per-thread partials then a reduction.
void bias_grad(float* db, const float* dy, int64_t rows, int64_t k) {
  std::fill(db, db + k, 0.f);
#pragma omp parallel
  {
    std::vector<float> part(static_cast<size_t>(k), 0.f);
#pragma omp for nowait
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < k; ++j) part[j] += dy[i * k + j];
#pragma omp critical
    for (int64_t j = 0; j < k; ++j) db[j] += part[j];
  }
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dDims& d) {
  if (d.n == 0) return;
  float* yp = y.data<float>();
  const float *xp = x.data<float>(), *wp = w.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (d.depthwise()) return forward_depthwise(yp, xp, wp, bp, d);
  if (d.pointwise()) {
    forward_pointwise(yp, xp, wp, d);
  } else {
    forward_im2col(yp, xp, wp, d);
  }
  if (bp) add_bias(yp, bp, d.n * pixels_out(d), d.k);
}

void conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dDims& d) {
  if (d.n == 0) return;
  float* dxp = dx.data<float>();
  const float *dyp = dy.data<float>(), *wp = w.data<float>();
  if (d.depthwise()) return backward_data_depthwise(dxp, dyp, wp, d);
  if (d.pointwise()) return backward_data_pointwise(dxp, dyp, wp, d);
  backward_data_im2col(dxp, dyp, wp, d);
}

void conv2d_backward_filter(const Tensor& dw, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                            const Conv2dDims& d) {
  float* dwp = dw.data<float>();
  const float *dyp = dy.data<float>(), *xp = x.data<float>();
  if (dbias.defined()) bias_grad(dbias.data<float>(), dyp, d.n * pixels_out(d), d.k);
  if (d.n == 0) return dw.zero_();
  if (d.depthwise()) return backward_filter_depthwise(dwp, dyp, xp, d);
  if (d.pointwise()) return backward_filter_pointwise(dwp, dyp, xp, d);
  backward_filter_im2col(dwp, dyp, xp, d);
}

}  // namespace temper::ref
