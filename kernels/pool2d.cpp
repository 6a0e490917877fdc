// Pooling entry points: every shape, window, dtype and device check happens here, once for both
// backends, then CPU tensors run the reference (kernels/ref/pool2d_ref.cpp). CUDA: issue 7.
#include "kernels/pool2d.h"
#include "kernels/ref/vision_ref_ops.h"

#include <initializer_list>
#include <utility>

namespace temper::ops {
namespace {

// t is [N,H,W,C] with H, W, C > 0.
void check_nhwc(const Tensor& t, const char* op, const char* name) {
  TEMPER_CHECK(t.defined(), "{}: {} is undefined", op, name);
  TEMPER_CHECK(t.ndim() == 4 && t.dim(1) > 0 && t.dim(2) > 0 && t.dim(3) > 0,
               "{}: {} must be [N,H,W,C] with H, W, C > 0, got {}", op, name, shape_str(t.shape()));
}

// Positive window and strides, padding in [0, window/2], and at least one output pixel.
void check_window(const Pool2dWindow& win, int64_t h, int64_t w, const char* op) {
  TEMPER_CHECK(win.r > 0 && win.s > 0 && win.stride_h > 0 && win.stride_w > 0,
               "{}: window {}x{} and stride {}x{} must be positive", op, win.r, win.s, win.stride_h, win.stride_w);
  TEMPER_CHECK(win.pad_h >= 0 && win.pad_w >= 0 && 2 * win.pad_h <= win.r && 2 * win.pad_w <= win.s,
               "{}: padding {}x{} must be at most half the window {}x{}", op, win.pad_h, win.pad_w, win.r, win.s);
  TEMPER_CHECK(h + 2 * win.pad_h >= win.r && w + 2 * win.pad_w >= win.s,
               "{}: window {}x{} is larger than the padded input {}x{}", op, win.r, win.s, h + 2 * win.pad_h,
               w + 2 * win.pad_w);
}

// The pooled shape [N,P,Q,C] of an input [N,H,W,C].
Shape pooled_shape(const Tensor& x, const Pool2dWindow& win) {
  return {x.dim(0), win.out_h(x.dim(1)), win.out_w(x.dim(2)), x.dim(3)};
}

// Same device as `first`; refuses CUDA (no kernel yet); CPU float tensors f32, indices i32.
void check_backend(std::initializer_list<std::pair<const Tensor*, const char*>> floats, const Tensor* indices,
                   const Tensor& first, const char* op) {
  for (const auto& [t, name] : floats) check_same_device(*t, first, op);
  if (indices) check_same_device(*indices, first, op);
  TEMPER_CHECK(!first.is_cuda(), "{}: no CUDA kernel yet (issue 7)", op);
  for (const auto& [t, name] : floats) check_dtype(*t, DType::F32, op, name);
  if (indices) check_dtype(*indices, DType::I32, op, "indices");
}

}  // namespace

void max_pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dWindow& win) {
  const char* op = "max_pool2d_forward";
  check_nhwc(x, op, "x");
  check_window(win, x.dim(1), x.dim(2), op);
  check_shape(out, pooled_shape(x, win), op, "out");
  check_shape(indices, pooled_shape(x, win), op, "indices");
  check_backend({{&x, "x"}, {&out, "out"}}, &indices, x, op);
  ref::max_pool2d_forward(out, indices, x, win);
}

void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices) {
  const char* op = "max_pool2d_backward";
  check_nhwc(dx, op, "dx");
  check_nhwc(dy, op, "dy");
  TEMPER_CHECK(dy.dim(0) == dx.dim(0) && dy.dim(3) == dx.dim(3), "{}: dy {} and dx {} differ in N or C", op,
               shape_str(dy.shape()), shape_str(dx.shape()));
  check_shape(indices, dy.shape(), op, "indices");
  check_backend({{&dx, "dx"}, {&dy, "dy"}}, &indices, dx, op);
  ref::max_pool2d_backward(dx, dy, indices);
}

void avg_pool2d_forward(const Tensor& out, const Tensor& x, const Pool2dWindow& win, PadCounting counting) {
  const char* op = "avg_pool2d_forward";
  check_nhwc(x, op, "x");
  check_window(win, x.dim(1), x.dim(2), op);
  check_shape(out, pooled_shape(x, win), op, "out");
  check_backend({{&x, "x"}, {&out, "out"}}, nullptr, x, op);
  ref::avg_pool2d_forward(out, x, win, counting);
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Pool2dWindow& win, PadCounting counting) {
  const char* op = "avg_pool2d_backward";
  check_nhwc(dx, op, "dx");
  check_window(win, dx.dim(1), dx.dim(2), op);
  check_shape(dy, pooled_shape(dx, win), op, "dy");
  check_backend({{&dx, "dx"}, {&dy, "dy"}}, nullptr, dx, op);
  ref::avg_pool2d_backward(dx, dy, win, counting);
}

void adaptive_avg_pool2d_forward(const Tensor& out, const Tensor& x) {
  const char* op = "adaptive_avg_pool2d_forward";
  check_nhwc(x, op, "x");
  check_nhwc(out, op, "out");
  check_shape(out, {x.dim(0), out.dim(1), out.dim(2), x.dim(3)}, op, "out");
  check_backend({{&x, "x"}, {&out, "out"}}, nullptr, x, op);
  ref::adaptive_avg_pool2d_forward(out, x);
}

void adaptive_avg_pool2d_backward(const Tensor& dx, const Tensor& dy) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_nhwc(dx, op, "dx");
  check_nhwc(dy, op, "dy");
  check_shape(dy, {dx.dim(0), dy.dim(1), dy.dim(2), dx.dim(3)}, op, "dy");
  check_backend({{&dx, "dx"}, {&dy, "dy"}}, nullptr, dx, op);
  ref::adaptive_avg_pool2d_backward(dx, dy);
}

void global_avg_pool2d_forward(const Tensor& out, const Tensor& x) {
  const char* op = "global_avg_pool2d_forward";
  check_nhwc(x, op, "x");
  check_shape(out, {x.dim(0), x.dim(3)}, op, "out");
  adaptive_avg_pool2d_forward(out.reshape({x.dim(0), 1, 1, x.dim(3)}), x);
}

void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy) {
  const char* op = "global_avg_pool2d_backward";
  check_nhwc(dx, op, "dx");
  check_shape(dy, {dx.dim(0), dx.dim(3)}, op, "dy");
  adaptive_avg_pool2d_backward(dx, dy.reshape({dx.dim(0), 1, 1, dx.dim(3)}));
}

}  // namespace temper::ops
