// The block layouts of the CNNs: ResNet-18/34/50 (torchvision's layout and parameter names) and
// EfficientNet-Lite0 (PyPI efficientnet_lite_pytorch's names; TensorFlow "SAME" padding as computed
// for its 224-pixel input: stride-2 layers pad one more zero after than before, whatever the input
// size, exactly as that implementation's static padding does).
// A builder asks its owner for the stores of each stage (so a frozen stage's parameters land in the
// frozen store) and hands over the blocks in forward order.
#pragma once
#include <string>
#include <vector>

#include "models/vision/chain_block.h"
#include "models/vision/vision_config.h"

namespace temper {

class CnnAssembler {
 public:
  virtual ~CnnAssembler() = default;
  virtual LayerStores stores_for(int stage) = 0;
  virtual void add_block(int stage, ChainBlock block) = 0;
};

struct CnnLayout {
  std::vector<std::string> stage_names;  // stage i's name (the --freeze values)
  int64_t features = 0;                  // channels into the classifier
  std::string classifier;                // the classifier's parameter prefix ("fc", "_fc")
};

// Stage names and classifier of an architecture, without building anything.
CnnLayout cnn_layout(const std::string& architecture);
// Builds the blocks of cfg.architecture into `out`, in forward order.
void build_cnn_blocks(const VisionConfig& cfg, CnnAssembler& out);

}  // namespace temper
