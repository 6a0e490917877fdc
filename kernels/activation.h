// Pointwise activations of the vision models: ReLU (ResNet), ReLU6 (EfficientNet-Lite), SiLU and
// sigmoid (EfficientNet, squeeze-excite gates). Any shape, f32 on the CPU; the forward may run in place.
//
// Backward takes either the forward's input x or its output y (ActSaved says which): an in-place
// forward keeps only y, which serves ReLU, ReLU6 and sigmoid; SiLU needs x. At the kinks the
// gradient follows torch: relu'(0) = 0, relu6'(0) = relu6'(6) = 0.
#pragma once
#include "runtime/tensor.h"

namespace temper::ops {

enum class Activation { Relu, Relu6, Silu, Sigmoid };
enum class ActSaved { Input, Output };  // what activation_backward's `saved` holds

const char* activation_name(Activation act);

// out[*] = act(x[*]); out may alias x.
void activation_forward(const Tensor& out, const Tensor& x, Activation act);
// dx[*] = dy[*] * act'(x) overwritten, from saved[*] = x or y of the forward; dx may alias dy.
void activation_backward(const Tensor& dx, const Tensor& dy, const Tensor& saved, Activation act, ActSaved kind);

}  // namespace temper::ops
