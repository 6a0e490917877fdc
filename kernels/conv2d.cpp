// Convolution entry points: every shape, parameter, dtype and device check happens here, once for
// both backends, and the checked problem becomes a Conv2dDims that the CPU reference
// (kernels/ref/conv2d_ref.cpp) runs. CUDA tensors are refused until the kernels land (issue 7).
#include "kernels/conv2d.h"
#include "kernels/ref/vision_ref_ops.h"

#include <initializer_list>
#include <utility>

namespace temper::ops {

int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                           int64_t extra_pad) {
  const int64_t span = in + 2 * pad + extra_pad - dilation * (kernel - 1) - 1;
  if (span < 0 || stride <= 0) return 0;
  return span / stride + 1;
}

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& prm) {
  TEMPER_CHECK(x.size() == 4 && w.size() == 4, "conv2d_output_shape: x {} and w {} must both be 4-D", shape_str(x),
               shape_str(w));
  return {x[0], conv2d_output_size(x[1], w[1], prm.stride_h, prm.pad_h, prm.dilation_h, prm.extra_pad_h),
          conv2d_output_size(x[2], w[2], prm.stride_w, prm.pad_w, prm.dilation_w, prm.extra_pad_w), w[0]};
}

namespace {

// t is [N,H,W,C] (or [K,R,S,C/groups]) with every dimension but the first positive.
void check_4d(const Tensor& t, const char* op, const char* name, const char* letters) {
  TEMPER_CHECK(t.defined(), "{}: {} is undefined", op, name);
  TEMPER_CHECK(t.ndim() == 4 && t.dim(1) > 0 && t.dim(2) > 0 && t.dim(3) > 0,
               "{}: {} must be {} with the last three dimensions positive, got {}", op, name, letters,
               shape_str(t.shape()));
}

void check_params(const Conv2dParams& prm, const char* op) {
  TEMPER_CHECK(prm.stride_h > 0 && prm.stride_w > 0, "{}: stride {}x{} must be positive", op, prm.stride_h,
               prm.stride_w);
  TEMPER_CHECK(prm.dilation_h > 0 && prm.dilation_w > 0, "{}: dilation {}x{} must be positive", op, prm.dilation_h,
               prm.dilation_w);
  TEMPER_CHECK(prm.pad_h >= 0 && prm.pad_w >= 0 && prm.extra_pad_h >= 0 && prm.extra_pad_w >= 0,
               "{}: padding {}x{} (extra {}x{}) must be non-negative", op, prm.pad_h, prm.pad_w, prm.extra_pad_h,
               prm.extra_pad_w);
  TEMPER_CHECK(prm.groups > 0, "{}: groups {} must be positive", op, prm.groups);
}

// The problem of x (or dx) [N,H,W,C] under w (or dw) [K,R,S,C/groups].
Conv2dDims problem_dims(const Tensor& x, const Tensor& w, const Conv2dParams& prm, const char* op, const char* xname,
                        const char* wname) {
  check_4d(x, op, xname, "[N,H,W,C]");
  check_4d(w, op, wname, "[K,R,S,C/groups]");
  check_params(prm, op);
  Conv2dDims d;
  d.n = x.dim(0), d.h = x.dim(1), d.w = x.dim(2), d.c = x.dim(3);
  d.k = w.dim(0), d.r = w.dim(1), d.s = w.dim(2);
  d.prm = prm;
  TEMPER_CHECK(d.k > 0 && d.c % prm.groups == 0 && d.k % prm.groups == 0,
               "{}: channels C {} and K {} must be positive multiples of groups {}", op, d.c, d.k, prm.groups);
  TEMPER_CHECK(w.dim(3) == d.cg(), "{}: {} {} must have C/groups = {} input channels", op, wname, shape_str(w.shape()),
               d.cg());
  const Shape y = conv2d_output_shape(x.shape(), w.shape(), prm);
  d.p = y[1], d.q = y[2];
  TEMPER_CHECK(d.p > 0 && d.q > 0, "{}: dilated filter {}x{} is larger than the padded input {}x{}", op,
               prm.dilation_h * (d.r - 1) + 1, prm.dilation_w * (d.s - 1) + 1, d.h + 2 * prm.pad_h + prm.extra_pad_h,
               d.w + 2 * prm.pad_w + prm.extra_pad_w);
  return d;
}

// bias, when defined, is [K].
void check_bias(const Tensor& bias, const Conv2dDims& d, const char* op, const char* name) {
  if (bias.defined()) check_shape(bias, {d.k}, op, name);
}

// Every defined tensor on first's device and f32; CUDA refused until its kernels exist.
void check_backend(std::initializer_list<std::pair<const Tensor*, const char*>> tensors, const Tensor& first,
                   const char* op) {
  for (const auto& [t, name] : tensors)
    if (t->defined()) check_same_device(*t, first, op);
  TEMPER_CHECK(!first.is_cuda(), "conv2d: no CUDA kernel yet (issue 7)");
  for (const auto& [t, name] : tensors)
    if (t->defined()) check_dtype(*t, DType::F32, op, name);
}

}  // namespace

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& prm) {
  const char* op = "conv2d_forward";
  const Conv2dDims d = problem_dims(x, w, prm, op, "x", "w");
  check_shape(y, {d.n, d.p, d.q, d.k}, op, "y");
  check_bias(bias, d, op, "bias");
  check_backend({{&x, "x"}, {&w, "w"}, {&y, "y"}, {&bias, "bias"}}, x, op);
  ref::conv2d_forward(y, x, w, bias, d);
}

void conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& prm) {
  const char* op = "conv2d_backward_data";
  const Conv2dDims d = problem_dims(dx, w, prm, op, "dx", "w");
  check_shape(dy, {d.n, d.p, d.q, d.k}, op, "dy");
  check_backend({{&dx, "dx"}, {&dy, "dy"}, {&w, "w"}}, dx, op);
  ref::conv2d_backward_data(dx, dy, w, d);
}

void conv2d_backward_filter(const Tensor& dw, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                            const Conv2dParams& prm) {
  const char* op = "conv2d_backward_filter";
  const Conv2dDims d = problem_dims(x, dw, prm, op, "x", "dw");
  check_shape(dy, {d.n, d.p, d.q, d.k}, op, "dy");
  check_bias(dbias, d, op, "dbias");
  check_backend({{&dw, "dw"}, {&dbias, "dbias"}, {&dy, "dy"}, {&x, "x"}}, x, op);
  ref::conv2d_backward_filter(dw, dbias, dy, x, d);
}

}  // namespace temper::ops
