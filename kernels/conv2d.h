// 2-D convolution over NHWC activations (torch's cross-correlation semantics): stride, zero
// padding, dilation and groups (depthwise = groups == C, with K a multiple of C), optional bias.
// Forward, backward-data and backward-filter, f32 on the CPU; CUDA: issue 7.
//
// Shape letters: x[N,H,W,C] in, y[N,P,Q,K] out; the filter is w[K,R,S,C/groups] (KRSC: output
// channel, filter row, filter column, input channel of its group). torchvision/timm checkpoints
// hold OIHW [K,C/groups,R,S]; models/io converts them to KRSC once, at load time, so every kernel
// reads one contiguous R*S*C/groups row per output channel. Output channel k belongs to group
// k / (K/groups) and sees input channels [g*C/groups, (g+1)*C/groups).
//   P = (H + 2*pad_h + extra_pad_h - dilation_h*(R-1) - 1) / stride_h + 1, likewise Q from W, S.
// extra_pad_h/w add zero rows below / columns to the right only: TensorFlow's "SAME" padding of a
// stride-2 layer on an even input pads one more after than before (EfficientNet-Lite's checkpoint
// was trained that way). Kernels need no change for it: input row p*stride_h - pad_h + r*dilation_h
// outside [0, H) reads zero, and P already counts the extra rows.
#pragma once
#include <cstdint>

#include "runtime/tensor.h"

namespace temper::ops {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;  // zeros on each side
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  int64_t extra_pad_h = 0, extra_pad_w = 0;  // further zeros below / to the right (asymmetric padding)

  static Conv2dParams square(int64_t stride, int64_t pad, int64_t dilation = 1, int64_t groups = 1) {
    return {stride, stride, pad, pad, dilation, dilation, groups};
  }
};

// One spatial output size: (in + 2*pad + extra_pad - dilation*(kernel-1) - 1) / stride + 1, or 0
// when the dilated kernel is larger than the padded input (the entry points reject that).
int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                           int64_t extra_pad = 0);
// y's shape [N,P,Q,K] for x[N,H,W,C] and w[K,R,S,C/groups] (no checks beyond the arithmetic).
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& prm);

// y[N,P,Q,K] (overwritten) = conv(x[N,H,W,C], w[K,R,S,C/groups]) + bias[K]; an undefined bias
// means none.
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& prm);
// dx[N,H,W,C] (overwritten) = d loss / d x from dy[N,P,Q,K] and w[K,R,S,C/groups].
void conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const Conv2dParams& prm);
// dw[K,R,S,C/groups] and dbias[K] (both overwritten; dbias may be undefined) from dy[N,P,Q,K]
// and x[N,H,W,C].
void conv2d_backward_filter(const Tensor& dw, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                            const Conv2dParams& prm);

// The checked problem both backends see, built by kernels/conv2d.cpp.
struct Conv2dDims {
  int64_t n = 0, h = 0, w = 0, c = 0;  // x[N,H,W,C]
  int64_t k = 0, r = 0, s = 0;         // w[K,R,S,C/groups]
  int64_t p = 0, q = 0;                // y[N,P,Q,K]
  Conv2dParams prm;

  int64_t cg() const { return c / prm.groups; }  // input channels per group
  int64_t kg() const { return k / prm.groups; }  // output channels per group
  bool depthwise() const { return prm.groups > 1 && prm.groups == c; }
  // 1x1, stride 1, no padding: y is a plain GEMM of x viewed as [N*H*W, C].
  bool pointwise() const {
    return r == 1 && s == 1 && prm.stride_h == 1 && prm.stride_w == 1 && prm.pad_h == 0 && prm.pad_w == 0 &&
           prm.extra_pad_h == 0 && prm.extra_pad_w == 0;
  }
};

}  // namespace temper::ops
