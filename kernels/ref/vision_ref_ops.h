// CPU twins of the vision ops (convolution, pooling, batch norm, activations), called only by their
// entry files (kernels/conv2d.cpp, pool2d.cpp, batchnorm.cpp, activation.cpp) after the checks. They
// join kernels/backend_ops.inc (shared with the CUDA backend) once their CUDA kernels exist (issue 7).
#pragma once
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/pool2d.h"
#include "runtime/tensor.h"

namespace temper::ref {

// kernels/ref/conv2d_ref.cpp
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ops::Conv2dDims& d);
void conv2d_backward_data(const Tensor& dx, const Tensor& dy, const Tensor& w, const ops::Conv2dDims& d);
void conv2d_backward_filter(const Tensor& dw, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                            const ops::Conv2dDims& d);

// kernels/ref/pool2d_ref.cpp (global average pooling is the adaptive op on reshaped tensors)
void max_pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x, const ops::Pool2dWindow& win);
void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices);
void avg_pool2d_forward(const Tensor& out, const Tensor& x, const ops::Pool2dWindow& win, ops::PadCounting counting);
void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const ops::Pool2dWindow& win, ops::PadCounting counting);
void adaptive_avg_pool2d_forward(const Tensor& out, const Tensor& x);
void adaptive_avg_pool2d_backward(const Tensor& dx, const Tensor& dy);

// kernels/ref/batchnorm_ref.cpp
void batchnorm2d_forward_train(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                               const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float momentum, float eps);
void batchnorm2d_forward_eval(const Tensor& out, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps);
void batchnorm2d_backward_train(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                                const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_rstd);
void batchnorm2d_backward_eval(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                               const Tensor& x, const Tensor& gamma, const Tensor& running_mean,
                               const Tensor& running_var, float eps);

// kernels/ref/activation_ref.cpp
void activation_forward(const Tensor& out, const Tensor& x, ops::Activation act);
void activation_backward(const Tensor& dx, const Tensor& dy, const Tensor& saved, ops::Activation act,
                         ops::ActSaved kind);

}  // namespace temper::ref
