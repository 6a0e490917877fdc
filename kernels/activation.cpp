// Activation entry points: shape, dtype and device checks once, then the CPU reference
// (kernels/ref/activation_ref.cpp). CUDA kernels come with issue 7's GPU work.
#include "kernels/activation.h"
#include "kernels/ref/vision_ref_ops.h"

namespace temper::ops {
namespace {

// Every operand defined, of x's shape, on x's device; CPU tensors must be f32.
void check_operands(std::initializer_list<std::pair<const Tensor*, const char*>> operands, const Tensor& x,
                    const char* op) {
  TEMPER_CHECK(x.defined(), "{}: input is undefined", op);
  for (const auto& [t, name] : operands) {
    TEMPER_CHECK(t->defined(), "{}: {} is undefined", op, name);
    check_same_device(*t, x, op);
    check_shape(*t, x.shape(), op, name);
  }
  TEMPER_CHECK(!x.is_cuda(), "{}: no CUDA kernel yet (issue 7)", op);
  for (const auto& [t, name] : operands) check_dtype(*t, DType::F32, op, name);
}

}  // namespace

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::Relu:
      return "relu";
    case Activation::Relu6:
      return "relu6";
    case Activation::Silu:
      return "silu";
    case Activation::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

void activation_forward(const Tensor& out, const Tensor& x, Activation act) {
  check_operands({{&out, "out"}, {&x, "x"}}, x, "activation_forward");
  ref::activation_forward(out, x, act);
}

void activation_backward(const Tensor& dx, const Tensor& dy, const Tensor& saved, Activation act, ActSaved kind) {
  const char* op = "activation_backward";
  TEMPER_CHECK(!(act == Activation::Silu && kind == ActSaved::Output),
               "{}: silu's gradient needs the forward's input x, not its output", op);
  check_operands({{&dx, "dx"}, {&dy, "dy"}, {&saved, "saved"}}, dy, op);
  ref::activation_backward(dx, dy, saved, act, kind);
}

}  // namespace temper::ops
