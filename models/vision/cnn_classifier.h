// CnnClassifier: a CNN body (cnn_architectures.h) + global average pooling + dropout + a linear
// classifier, as an ImageClassifier. Three stores: the trained parameters (params(): the optimizer,
// the DDP reducer and checkpoints see these), the frozen ones (stages up to --freeze, no gradients)
// and the batch-norm running statistics (buffers(): averaged over ranks and checkpointed by the
// trainer). Backward stops at the first frozen block, so a frozen prefix costs no backward at all.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/blocks/torch_linear.h"
#include "models/vision/cnn_architectures.h"
#include "runtime/train/image_classifier.h"

namespace temper {

// A parameter, buffer or frozen weight as a checkpoint names and shapes it (torch layout: conv
// filters OIHW), with where it lives here.
struct CnnTensorRef {
  std::string name;
  Shape torch_shape;
  const ParameterStore* store = nullptr;
  int id = -1;
  bool conv_filter() const { return torch_shape.size() == 4; }  // held as KRSC here
};

class CnnClassifier : public ImageClassifier, private CnnAssembler {
 public:
  // freeze: "" / "none", a stage name of the architecture (it and every stage before it frozen), or
  // "backbone" (everything but the classifier). InputError (field --freeze) for another value.
  CnnClassifier(const VisionConfig& cfg, Device device, DType compute_dtype, int64_t pad_to = 1,
                const std::string& freeze = "");
  const VisionConfig& config() const { return cfg_; }
  // The input the model is trained on, recorded in the config.json it writes (for predict and eval).
  void set_input_size(int64_t image_size, int64_t resize_size) {
    cfg_.image_size = image_size;
    cfg_.resize_size = resize_size;
  }
  ParameterStore& params() override { return trained_; }
  const ParameterStore& params() const override { return trained_; }
  Tensor buffers() const override { return buffers_.compute_flat(); }
  std::string model_type() const override { return cfg_.architecture; }
  const std::vector<std::string>& labels() const override { return cfg_.labels; }
  nlohmann::json training_settings() const override;
  void set_rng_stream(uint64_t stream) override { dropout_stream_ = stream; }
  // config.json + model.safetensors in torch's layout (cnn_checkpoint.h).
  void save_pretrained(const std::string& dir) const override;

  // Every checkpoint tensor, in forward order (parameters and buffers interleaved as torch lists them).
  std::vector<CnnTensorRef> checkpoint_tensors() const;
  // The classifier's weight and bias.
  std::vector<CnnTensorRef> classifier_tensors() const;
  // torch's initialisation of a fresh classifier (nn.Linear: weight and bias ~ U(+-1/sqrt(in))).
  void init_classifier(uint64_t seed);
  // The from-scratch baseline: torchvision's ResNet initialisation (conv ~ N(0, 2 / (K*R*S)), i.e.
  // kaiming_normal fan_out; BN weight 1, bias 0; running mean 0, var 1) and a fresh classifier.
  void init_random(uint64_t seed);
  // After weights were written into the masters: refresh the compute copies.
  void sync_compute();

  // Multiply-adds of one image's forward at h x w (convolutions and the classifier; FLOPs = 2x),
  // counted as torchvision's model tables count them.
  double forward_macs(int64_t h, int64_t w) const;

  Tensor forward(const Tensor& images) override;
  LossSum backward(const Tensor& labels, float dloss) override;
  LossSum evaluate(const Tensor& images, const Tensor& labels, Tensor* logits = nullptr) override;

 private:
  LayerStores stores_for(int stage) override;
  void add_block(int stage, ChainBlock block) override;
  Tensor run(const Tensor& images, bool train);
  bool dropping() const { return cfg_.dropout > 0.f; }
  uint64_t dropout_seed() const;

  VisionConfig cfg_;
  CnnLayout layout_;
  int frozen_stages_ = 0;  // stages [0, frozen_stages_) are frozen
  ParameterStore trained_, frozen_, buffers_;
  std::vector<ChainBlock> blocks_;
  std::vector<int> block_stage_;
  std::vector<std::pair<int, int>> block_ids_;  // [first, end) in trained_, per block
  std::vector<CnnTensorRef> order_;            // checkpoint order, filled while building
  int trained_seen_ = 0, frozen_seen_ = 0, buffers_seen_ = 0;
  std::unique_ptr<TorchLinear> fc_;
  int fc_first_ = -1;
  uint64_t dropout_stream_ = 0;
  struct Ctx {
    Shape features;  // the last block's output shape (global pool input)
    Tensor pooled;   // the classifier's input (after dropout)
    Tensor logits;
  };
  Ctx ctx_;
};

}  // namespace temper
