// 2-D batch normalisation over NHWC activations: statistics per channel C over the N*H*W rows, in
// torch's semantics (nn.BatchNorm2d with affine weights and track_running_stats).
//
// Training: normalise with the batch mean and biased variance; save mean and rstd = 1/sqrt(var+eps)
// for backward; update running_mean/running_var in place, running = (1-momentum)*running +
// momentum*batch, where running_var takes the unbiased variance (torch's momentum, not its
// cumulative-average mode). Eval: normalise with the running statistics. A frozen BN (eval
// statistics while fine-tuning the rest) has its own backward: the statistics are constants there.
//
// f32 on the CPU (statistics accumulated in f64); x may have any number of leading dims as long as
// the last is C, but models pass [N,H,W,C].
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

// out[N,H,W,C]; save_mean[C], save_rstd[C] written; running_mean[C], running_var[C] updated in place.
// Needs N*H*W > 1 (the unbiased variance), as torch does in training.
void batchnorm2d_forward_train(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                               const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float momentum, float eps);

// out[N,H,W,C] = (x - running_mean) / sqrt(running_var + eps) * gamma + beta; out may alias x.
void batchnorm2d_forward_eval(const Tensor& out, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps);

// Training-mode backward: dx[N,H,W,C] overwritten; dgamma[C], dbeta[C] accumulated into (+=).
// x, gamma, save_mean, save_rstd as given to / written by batchnorm2d_forward_train. dx may alias dy.
void batchnorm2d_backward_train(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                                const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_rstd);

// Frozen (eval-statistics) backward: dx[N,H,W,C] = dy * gamma / sqrt(running_var + eps), overwritten.
// dgamma[C], dbeta[C] are accumulated into when defined; pass Tensor() for a BN whose affine weights
// are frozen too (timm's FrozenBatchNorm2d). dx may alias dy.
void batchnorm2d_backward_eval(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                               const Tensor& x, const Tensor& gamma, const Tensor& running_mean,
                               const Tensor& running_var, float eps);

}  // namespace temper::ops
