// Training checkpoints: <output_dir>/checkpoints/step-NNNNNNNN/ holds the model (HF layout, rank 0),
// the optimizer state (fp32 master weights, AdamW m and v) and trainer_state.json (step, data
// position, run geometry). Without ZeRO rank 0 writes optimizer.safetensors with the whole state;
// with ZeRO-1 every rank writes optimizer-rank-R-of-W.safetensors with its shard. All ranks write
// into step-N.partial/; after a barrier rank 0 writes complete.json (listing every file and its
// size) last, renames the directory and updates checkpoints/latest, so a checkpoint missing any
// rank's part never looks complete.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/comm/communicator.h"
#include "runtime/train/adamw_optimizer.h"
#include "runtime/train/trainable_model.h"

namespace temper {

struct TrainState {
  int64_t step = 0;           // optimizer steps completed
  int64_t tokens_seen = 0;    // over all ranks
  nlohmann::json loader;      // SequenceLoader position (loader_state_to_json), global over ranks
  nlohmann::json run;         // geometry that must match on resume (seq_len, batch, params, ...)
};

// Collective: every rank calls it. Returns the checkpoint directory.
std::string save_checkpoint(const std::string& output_dir, const TrainableModel& model, const AdamWOptimizer& opt,
                            const TrainState& state, Communicator& comm, bool zero1);
// Collective. "latest" resolves through <output_dir>/checkpoints/latest. Restores master weights (and
// the compute copy), AdamW state (this rank's range, from a whole or a sharded checkpoint) and returns
// the trainer state. InputError on a missing, partial or mismatched checkpoint.
TrainState load_checkpoint(const std::string& where, const std::string& output_dir, TrainableModel& model,
                           AdamWOptimizer& opt, Communicator& comm, bool zero1);

// Under ZeRO-1 with a separate compute copy each rank keeps only its shard of the fp32 master
// weights (shard_master_weights). gather_master_weights (collective) puts the whole master back
// before anything reads it whole (saving the model); shard again afterwards.
void shard_master_weights(TrainableModel& model, const AdamWOptimizer& opt, bool zero1);
void gather_master_weights(TrainableModel& model, const AdamWOptimizer& opt, Communicator& comm);

}  // namespace temper
