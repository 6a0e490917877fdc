// 2-D pooling over NHWC activations in torch's semantics: max pool (padding counts as -inf; the
// argmax of each window is saved for backward), average pool (count_include_pad selectable,
// torch's default includes it), adaptive average pool to [P,Q], and global average pool
// (adaptive to 1x1, written as [N,C] for a classifier head). No ceil_mode and no dilation
// (torchvision's ResNet and EfficientNet use neither).
//
// Shape letters: x[N,H,W,C] in, out[N,P,Q,C] with P, Q the output height and width. A window
// of R x S rows x columns; P = (H + 2*pad_h - R) / stride_h + 1, likewise Q. f32 on the CPU.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace temper::ops {

struct Pool2dWindow {
  int64_t r = 1, s = 1;                // window height, width
  int64_t stride_h = 1, stride_w = 1;  // torch's default stride is the window
  int64_t pad_h = 0, pad_w = 0;        // at most half the window, as torch requires

  static Pool2dWindow square(int64_t k, int64_t stride, int64_t pad) { return {k, k, stride, stride, pad, pad}; }
  int64_t out_h(int64_t h) const { return (h + 2 * pad_h - r) / stride_h + 1; }  // P
  int64_t out_w(int64_t w) const { return (w + 2 * pad_w - s) / stride_w + 1; }  // Q
};

// Whether average pooling divides by the whole window (torch's count_include_pad=True) or by the
// number of real pixels under it.
enum class PadCounting { Include, Exclude };

// out[N,P,Q,C] = window max; indices[N,P,Q,C] (i32) = h*W + w of the max in its input plane.
// Ties go to the first pixel in row-major window order; a NaN wins (and propagates), as in torch.
void max_pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dWindow& win);
// dx[N,H,W,C] overwritten: dy[N,P,Q,C] summed into the pixels indices[N,P,Q,C] point at.
void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices);

// out[N,P,Q,C] = window sum / (window size with or without its padding).
void avg_pool2d_forward(const Tensor& out, const Tensor& x, const Pool2dWindow& win,
                        PadCounting counting = PadCounting::Include);
// dx[N,H,W,C] overwritten from dy[N,P,Q,C].
void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Pool2dWindow& win,
                         PadCounting counting = PadCounting::Include);

// out[N,P,Q,C]: output row i averages input rows floor(i*H/P) .. ceil((i+1)*H/P) - 1, likewise
// columns (windows may overlap or differ in size when P does not divide H).
void adaptive_avg_pool2d_forward(const Tensor& out, const Tensor& x);
// dx[N,H,W,C] overwritten from dy[N,P,Q,C].
void adaptive_avg_pool2d_backward(const Tensor& dx, const Tensor& dy);

// out[N,C] = mean over H, W of x[N,H,W,C]; backward spreads dy[N,C] evenly into dx[N,H,W,C] (overwritten).
void global_avg_pool2d_forward(const Tensor& out, const Tensor& x);
void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy);

}  // namespace temper::ops
