// What every data loader shares: its options (batch size, train/eval, seed, rank of world), the
// resumable position (LoaderState, saved in checkpoints as JSON) and the portable per-epoch permutation
// its training order follows. The position counts rows (windows, examples, images) consumed over all
// ranks, so a run may resume with another batch size or world size and still see the rest of the
// epoch's permutation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace temper {

enum class LoaderMode { Train, Eval };

struct LoaderOptions {
  int64_t batch_size = 1;  // B, rows (windows, examples, images) per rank per micro-batch
  LoaderMode mode = LoaderMode::Train;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
};

struct LoaderState {
  uint64_t epoch = 0;
  int64_t position = 0;     // rows of this epoch's order already consumed (all ranks together)
  uint64_t seed = 0;        // checked on restore: another seed gives another order
  int64_t num_windows = 0;  // rows of the data set (the JSON name predates other loaders); checked on restore
};
nlohmann::json loader_state_to_json(const LoaderState& state);
// InputError naming `origin` (e.g. the checkpoint file) and the field when a value is missing/wrong.
LoaderState loader_state_from_json(const nlohmann::json& j, const std::string& origin);

// The permutation of [0, n) used for `epoch` (portable: same on every platform).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, uint64_t epoch);

}  // namespace temper
