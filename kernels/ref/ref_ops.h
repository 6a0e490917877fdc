// CPU reference twins of every op in kernels/*.h (same signatures, f32 activations).
// They define what each CUDA kernel must compute; the op test harness compares the two.
#pragma once
#include "kernels/adamw.h"
#include "kernels/matmul.h"
#include "runtime/tensor.h"

namespace temper::ref {
using ops::AdamWStep;
using ops::Trans;

void matmul(const Tensor& out, const Tensor& a, Trans ta, const Tensor& b, Trans tb, const Tensor* bias,
            float beta);
void bias_backward(const Tensor& dbias, const Tensor& dy);
void layernorm_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& weight, const Tensor& bias, float eps);
void layernorm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                        const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd);
void gelu_forward(const Tensor& out, const Tensor& x);
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x);
void embedding_forward(const Tensor& out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe);
void embedding_backward(const Tensor& dwte, const Tensor& dwpe, const Tensor& dout, const Tensor& tokens);
void softmax_cross_entropy(const Tensor& losses, const Tensor& dlogits, const Tensor& logits,
                           const Tensor& targets, int ignore_index, float dloss);
void attention_forward(const Tensor& out, const Tensor& att, const Tensor& qkv, int n_head);
void attention_backward(const Tensor& dqkv, const Tensor& dout, const Tensor& qkv, const Tensor& att, int n_head);
void add(const Tensor& out, const Tensor& a, const Tensor& b);
void add_inplace(const Tensor& a, const Tensor& b);
void scale_inplace(const Tensor& x, float s);
void cast(const Tensor& out, const Tensor& in);
void adamw_update(const Tensor& param, const Tensor& m, const Tensor& v, const Tensor& grad, const AdamWStep& s,
                  const Tensor& param_copy);
double sum_squares(const Tensor& x);

}  // namespace temper::ref
