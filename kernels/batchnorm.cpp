// Batch-norm entry points: every shape, dtype and device check happens here, once for both
// backends, then CPU tensors run the reference (kernels/ref/batchnorm_ref.cpp). CUDA: issue 7.
#include "kernels/batchnorm.h"
#include "kernels/ref/vision_ref_ops.h"

#include <initializer_list>
#include <utility>

namespace temper::ops {
namespace {

using Operands = std::initializer_list<std::pair<const Tensor*, const char*>>;

// x is [N,H,W,C] (or [rows..., C]) with C > 0; returns C.
int64_t channels_of(const Tensor& x, const char* op) {
  TEMPER_CHECK(x.defined() && x.ndim() >= 2 && x.dim(-1) > 0, "{}: x must be [N,H,W,C] with C > 0, got {}", op,
               x.defined() ? shape_str(x.shape()) : "undefined");
  return x.dim(-1);
}

// activations: x's shape; per_channel: [C]. All on x's device; CPU tensors f32. Undefined entries
// of `optional` are skipped.
void check_operands(const Tensor& x, Operands activations, Operands per_channel, Operands optional, const char* op) {
  const int64_t c = channels_of(x, op);
  auto check = [&](const Tensor& t, const Shape& shape, const char* name) {
    TEMPER_CHECK(t.defined(), "{}: {} is undefined", op, name);
    check_same_device(t, x, op);
    check_shape(t, shape, op, name);
  };
  for (const auto& [t, name] : activations) check(*t, x.shape(), name);
  for (const auto& [t, name] : per_channel) check(*t, {c}, name);
  for (const auto& [t, name] : optional)
    if (t->defined()) check(*t, {c}, name);
  TEMPER_CHECK(!x.is_cuda(), "{}: no CUDA kernel yet (issue 7)", op);
  for (Operands list : {activations, per_channel, optional})
    for (const auto& [t, name] : list)
      if (t->defined()) check_dtype(*t, DType::F32, op, name);
}

void check_eps(float eps, const char* op) { TEMPER_CHECK(eps > 0.f, "{}: eps must be positive, got {}", op, eps); }

}  // namespace

void batchnorm2d_forward_train(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                               const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float momentum, float eps) {
  const char* op = "batchnorm2d_forward_train";
  check_operands(x, {{&x, "x"}, {&out, "out"}},
                 {{&gamma, "gamma"},
                  {&beta, "beta"},
                  {&save_mean, "save_mean"},
                  {&save_rstd, "save_rstd"},
                  {&running_mean, "running_mean"},
                  {&running_var, "running_var"}},
                 {}, op);
  check_eps(eps, op);
  TEMPER_CHECK(momentum >= 0.f && momentum <= 1.f, "{}: momentum must be in [0, 1], got {}", op, momentum);
  TEMPER_CHECK(x.numel() / x.dim(-1) > 1, "{}: training needs more than one value per channel, x is {}", op,
               shape_str(x.shape()));
  ref::batchnorm2d_forward_train(out, save_mean, save_rstd, running_mean, running_var, x, gamma, beta, momentum, eps);
}

void batchnorm2d_forward_eval(const Tensor& out, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps) {
  const char* op = "batchnorm2d_forward_eval";
  check_operands(x, {{&x, "x"}, {&out, "out"}},
                 {{&gamma, "gamma"}, {&beta, "beta"}, {&running_mean, "running_mean"}, {&running_var, "running_var"}},
                 {}, op);
  check_eps(eps, op);
  ref::batchnorm2d_forward_eval(out, x, gamma, beta, running_mean, running_var, eps);
}

void batchnorm2d_backward_train(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                                const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                const Tensor& save_rstd) {
  const char* op = "batchnorm2d_backward_train";
  check_operands(
      x, {{&x, "x"}, {&dx, "dx"}, {&dy, "dy"}},
      {{&gamma, "gamma"}, {&dgamma, "dgamma"}, {&dbeta, "dbeta"}, {&save_mean, "save_mean"}, {&save_rstd, "save_rstd"}},
      {}, op);
  ref::batchnorm2d_backward_train(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_rstd);
}

void batchnorm2d_backward_eval(const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta, const Tensor& dy,
                               const Tensor& x, const Tensor& gamma, const Tensor& running_mean,
                               const Tensor& running_var, float eps) {
  const char* op = "batchnorm2d_backward_eval";
  check_operands(x, {{&x, "x"}, {&dx, "dx"}, {&dy, "dy"}},
                 {{&gamma, "gamma"}, {&running_mean, "running_mean"}, {&running_var, "running_var"}},
                 {{&dgamma, "dgamma"}, {&dbeta, "dbeta"}}, op);
  check_eps(eps, op);
  ref::batchnorm2d_backward_eval(dx, dgamma, dbeta, dy, x, gamma, running_mean, running_var, eps);
}

}  // namespace temper::ops
