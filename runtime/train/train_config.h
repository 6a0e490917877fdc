// Everything a fine-tuning run is configured with (filled from flags and the TOML config file).
#pragma once
#include <cstdint>
#include <string>

#include "runtime/dtype.h"
#include "runtime/train/lr_schedule.h"
#include "runtime/train/progress.h"

namespace temper {

struct TrainConfig {
  // Inputs and outputs.
  std::string model_dir;       // HF layout: config.json, model.safetensors, tokenizer files
  std::string train_file;      // text or JSONL
  std::string valid_file;      // optional separate validation source
  double valid_fraction = 0.05;  // held out from train_file when valid_file is empty
  std::string output_dir = "out";
  std::string cache_dir;       // token cache (default: <output_dir>/cache)
  std::string resume;          // checkpoint dir, or "latest" for <output_dir>/checkpoints/latest

  // Batch geometry. The global batch of a step is micro_batch x grad_accum x world size.
  int64_t seq_len = 128;
  int64_t micro_batch = 4;  // sequences per rank per micro-step
  int64_t grad_accum = 1;
  int64_t max_steps = 0;  // optimizer steps; 0 = derive from epochs
  double epochs = 1.0;

  // Optimisation (HF Trainer defaults where it has one).
  LrSchedule schedule{LrScheduleKind::Linear, 5e-5f, 0, 1};
  double warmup_ratio = 0.0;  // used when schedule.warmup_steps == 0
  float weight_decay = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, adam_eps = 1e-8f;
  float max_grad_norm = 1.0f;
  uint64_t seed = 42;
  int ignore_index = -100;

  // Data parallelism.
  int zero_stage = 0;                   // 0 = plain data parallel, 1 = ZeRO-1 optimizer sharding
  size_t bucket_bytes = 25u << 20;      // gradient all-reduce bucket size (PyTorch DDP's default)

  // Evaluation, checkpoints, logging.
  int64_t eval_every = 0;    // steps; 0 = only before and after training
  int64_t eval_batches = 0;  // 0 = the whole validation set
  int64_t save_every = 0;    // steps; 0 = no intermediate checkpoints
  bool save_on_signal = false;  // SIGTERM/SIGINT/SIGUSR1: checkpoint after the current step, stop
  int64_t log_every = 1;
  ProgressStyle progress = ProgressStyle::Auto;
  std::string metrics_file;  // default <output_dir>/metrics.jsonl

  bool recompute = false;  // activation recomputation (memory for one extra forward per block)
  Device device = Device::Cpu;
  DType compute_dtype = DType::F32;  // bf16 on CUDA (mixed precision)
};

}  // namespace temper
