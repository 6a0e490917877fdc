// The layers CNNs are built from, over NHWC activations: a convolution (filter kept as KRSC in the
// parameter store, named and shaped as torch's OIHW only in checkpoints), a batch norm (affine
// weights in the parameter store, running statistics in a separate buffer store), and ConvBnAct =
// conv -> batch norm -> optional activation, the unit of both ResNet and EfficientNet.
//
// A layer whose parameters sit in a store without gradients is frozen: no weight gradients, and its
// batch norm always normalises with the running statistics (which stay as loaded), as fine-tuning
// practice freezes them with the weights.
#pragma once
#include <optional>
#include <string>

#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "runtime/train/parameter_store.h"

namespace temper {

// Where a layer registers its tensors.
struct LayerStores {
  ParameterStore* params = nullptr;   // weights: the trained store, or the frozen one
  ParameterStore* buffers = nullptr;  // batch-norm running statistics (f32, no gradients)
  bool frozen() const { return !params->trainable(); }
};

// y[N,P,Q,K] = conv(x[N,H,W,C], w[K,R,S,C/groups]), no bias (every CNN here follows it with a BN).
class Conv2dLayer {
 public:
  Conv2dLayer(ParameterStore& store, const std::string& name, int64_t in, int64_t out, int64_t kernel,
              const ops::Conv2dParams& prm);
  Tensor forward(const Tensor& x) const;
  // dW += dL/dW from dy and the forward's input x (unless frozen); dx when want_dx, else undefined.
  Tensor backward(const Tensor& dy, const Tensor& x, bool want_dx) const;
  int64_t out_channels() const { return out_; }
  // y's shape for an input of shape x [N,H,W,C]; adds the forward's multiply-adds to *macs.
  Shape count_macs(const Shape& x, double* macs) const;

 private:
  const ParameterStore* store_;
  int weight_;
  int64_t in_, out_, kernel_;
  ops::Conv2dParams prm_;
};

struct BatchNormSettings {
  float eps = 1e-5f;
  float momentum = 0.1f;  // torch's convention: running = (1 - momentum) * running + momentum * batch
};

class BatchNorm2dLayer {
 public:
  struct Ctx {
    Tensor x, mean, rstd;  // mean / rstd: batch statistics (training statistics only)
  };
  BatchNorm2dLayer(const LayerStores& stores, const std::string& name, int64_t channels, const BatchNormSettings& bn);
  // Training (and not frozen): batch statistics, running statistics updated; else running statistics.
  // ctx (kept for backward) may be null when no backward follows.
  Tensor forward(const Tensor& x, bool train, Ctx* ctx) const;
  // dx from dy; dgamma, dbeta accumulated unless frozen.
  Tensor backward(const Tensor& dy, const Ctx& ctx) const;

 private:
  const ParameterStore* params_;
  const ParameterStore* buffers_;
  int gamma_, beta_, mean_, var_;
  BatchNormSettings bn_;
};

// conv -> batch norm -> activation (none when act is empty).
class ConvBnAct {
 public:
  struct Ctx {
    Tensor x, y;  // the input and the output (after the activation, which runs in place)
    BatchNorm2dLayer::Ctx bn;
  };
  ConvBnAct(const LayerStores& stores, const std::string& conv_name, const std::string& bn_name, int64_t in,
            int64_t out, int64_t kernel, const ops::Conv2dParams& prm, const BatchNormSettings& bn,
            std::optional<ops::Activation> act);
  Tensor forward(const Tensor& x, bool train, Ctx* ctx) const;
  // dx when want_dx (else undefined); the ctx's tensors are released.
  Tensor backward(const Tensor& dy, Ctx& ctx, bool want_dx) const;
  int64_t out_channels() const { return conv_.out_channels(); }
  bool has_activation() const { return act_.has_value(); }
  Shape count_macs(const Shape& x, double* macs) const { return conv_.count_macs(x, macs); }

 private:
  Conv2dLayer conv_;
  BatchNorm2dLayer bn_;
  std::optional<ops::Activation> act_;
};

}  // namespace temper
