// Trainer implementation.
#include "runtime/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "kernels/elementwise.h"
#include "kernels/grad_norm.h"
#include "runtime/device_memory.h"
#include "runtime/logger.h"
#include "runtime/nvtx.h"
#include "runtime/train/causal_lm_task.h"
#include "runtime/train/stop_signal.h"
#include "runtime/train/train_state.h"

namespace temper {
namespace {
AdamWConfig adamw_config(const TrainConfig& c) { return {c.beta1, c.beta2, c.adam_eps, c.weight_decay}; }
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
ShardRange optimizer_range(const TrainConfig& c, const ParameterStore& store, const Communicator& comm) {
  if (c.zero_stage == 1) return shard_range(store.padded_numel(), comm.rank(), comm.world_size());
  return {0, store.padded_numel()};
}
}  // namespace

int64_t compute_total_steps(const TrainConfig& cfg, const TrainTask& task) {
  if (cfg.max_steps > 0) return cfg.max_steps;
  const double per_epoch = static_cast<double>(task.micro_batches_per_epoch()) / static_cast<double>(cfg.grad_accum);
  const int64_t steps = static_cast<int64_t>(std::ceil(per_epoch * cfg.epochs));
  TEMPER_INPUT_CHECK(steps > 0, cfg.train_file, "size",
                     "{} make no full step of {} x {} sequences per rank; lower --micro-batch/--grad-accum",
                     task.data_description(), cfg.micro_batch, cfg.grad_accum);
  return steps;
}

Trainer::Trainer(const TrainConfig& cfg, CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val,
                 Communicator& comm)
    : Trainer(cfg, std::make_unique<CausalLmTask>(model, std::move(train), std::move(val)), comm) {}

Trainer::Trainer(const TrainConfig& cfg, std::unique_ptr<TrainTask> task, Communicator& comm)
    : cfg_(cfg), task_(std::move(task)), model_(task_->model()), comm_(comm),
      opt_(model_.params(), adamw_config(cfg), optimizer_range(cfg, model_.params(), comm)),
      reducer_(model_.params(), comm, cfg.zero_stage == 1 ? ShardMode::Zero1 : ShardMode::None, cfg.bucket_bytes) {
  model_.set_grad_ready_hook([this](int id) { reducer_.on_grad_ready(id); });  // cleared by ~Trainer
  total_steps_ = compute_total_steps(cfg_, *task_);
  cfg_.schedule.total_steps = total_steps_;
  if (cfg_.schedule.warmup_steps == 0 && cfg_.warmup_ratio > 0)
    cfg_.schedule.warmup_steps = static_cast<int64_t>(std::ceil(cfg_.warmup_ratio * static_cast<double>(total_steps_)));
  shard_master_weights(model_, opt_, zero1());  // ZeRO-1 with a separate master: keep this rank's shard
  if (!cfg_.resume.empty()) restore();
  if (comm_.rank() == 0) {
    std::filesystem::create_directories(cfg_.output_dir);
    const std::string path = cfg_.metrics_file.empty()
                                 ? (std::filesystem::path(cfg_.output_dir) / "metrics.jsonl").string()
                                 : cfg_.metrics_file;
    metrics_ = std::make_unique<MetricsLog>(path, start_step_ > 0);
  }
  if (comm_.rank() != 0) cfg_.progress = ProgressStyle::Off;
  log_info("optimizer state per rank: {:.1f} MiB (AdamW m+v{} over {} of {} parameters{})",
           static_cast<double>(opt_.state_bytes() + model_.params().master_bytes()) / (1 << 20),
           model_.params().master_aliases_compute() ? "" : " + fp32 master", opt_.range().size(),
           model_.params().numel(), zero1() ? ", ZeRO-1" : "");
}

Trainer::~Trainer() { model_.set_grad_ready_hook(nullptr); }  // the model may outlive this reducer

nlohmann::json Trainer::run_geometry() const {
  return {{"model_type", model_.model_type()}, {"num_parameters", model_.params().numel()},
          {"seq_len", cfg_.seq_len},           {"micro_batch", cfg_.micro_batch},
          {"grad_accum", cfg_.grad_accum},     {"total_steps", total_steps_},
          {"seed", cfg_.seed},                 {"world_size", comm_.world_size()},
          {"training_settings", model_.training_settings()}};
}

void Trainer::restore() {
  const TrainState s = load_checkpoint(cfg_.resume, cfg_.output_dir, model_, opt_, comm_, zero1());
  const nlohmann::json want = run_geometry();
  for (const auto& [key, value] : want.items()) {
    if (key == "world_size" || key == "micro_batch" || key == "total_steps") {
      if (s.run.value(key, value) != value)
        log_warn("resuming with {} {} (checkpoint: {}): the global batch and data order change", key, value.dump(),
                 s.run[key].dump());
      continue;
    }
    if (key == "training_settings" && !s.run.contains(key) && value.empty()) continue;  // older checkpoints
    TEMPER_INPUT_CHECK(s.run.contains(key) && s.run[key] == value, cfg_.resume, "run." + key,
                       "checkpoint has {}, this run has {} (resume with the same settings)",
                       s.run.contains(key) ? s.run[key].dump() : "nothing", value.dump());
  }
  task_->restore_loader(s.loader, cfg_.resume);
  start_step_ = s.step;
  tokens_seen_ = s.tokens_seen;
  log_info("resumed from {} at step {}", cfg_.resume, start_step_);
}

double Trainer::global_grad_norm() const {
  if (!zero1()) return opt_.grad_norm();  // gradients already summed on every rank
  return std::sqrt(comm_.all_reduce_scalar(ops::sum_squares(reducer_.reduced_grads()), ReduceOp::Sum));
}

void Trainer::apply_update(int64_t step, double grad_norm) {
  const float lr = cfg_.schedule.lr(step), scale = clip_scale(grad_norm, cfg_.max_grad_norm);
  if (!zero1()) return opt_.step(lr, scale);
  opt_.step(lr, scale, reducer_.reduced_grads());
  const ShardRange r = opt_.range();
  const Tensor& compute = model_.params().compute_flat_padded();
  comm_.all_gather(compute, compute.slice_flat(r.begin, {r.size()}));  // updated parameters to every rank
}

void Trainer::average_buffers() {
  const Tensor b = model_.buffers();
  if (!b.defined() || comm_.world_size() == 1) return;
  comm_.all_reduce(b, ReduceOp::Sum);
  ops::scale_inplace(b, 1.f / static_cast<float>(comm_.world_size()));
}

Trainer::StepStats Trainer::train_step(int64_t step) {
  TEMPER_NVTX("train_step");
  const auto t0 = std::chrono::steady_clock::now();
  const size_t micro = static_cast<size_t>(cfg_.grad_accum);
  double kept = 0;
  for (size_t i = 0; i < micro; ++i) kept += task_->load_micro_batch(i);
  StepStats st;
  const double kept_global = comm_.all_reduce_scalar(kept, ReduceOp::Sum);
  const float dloss = kept_global > 0 ? static_cast<float>(1.0 / kept_global) : 0.f;  // mean over the global step
  model_.params().zero_grads();
  LossSum total;
  for (size_t i = 0; i < micro; ++i) {
    reducer_.begin_backward(i + 1 == micro);
    const uint64_t micro_step = static_cast<uint64_t>(step * cfg_.grad_accum) + i;
    model_.set_rng_stream(micro_step * static_cast<uint64_t>(comm_.world_size()) + static_cast<uint64_t>(comm_.rank()));
    const LossSum s = task_->forward_backward(i, dloss);
    total.sum += s.sum;
    total.count += s.count;
    st.tokens += task_->tokens(i);
  }
  st.comm_wait_seconds = reducer_.finish();
  st.grad_norm = global_grad_norm();
  apply_update(step, st.grad_norm);
  average_buffers();
  const double loss_sum = comm_.all_reduce_scalar(total.sum, ReduceOp::Sum);
  st.loss = kept_global > 0 ? loss_sum / kept_global : 0.0;
  st.tokens *= comm_.world_size();
  st.seconds = seconds_since(t0);
  return st;
}

std::optional<EvalReport> Trainer::run_eval(int64_t step, const char* when) {
  if (!task_->has_validation()) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  const EvalReport r = task_->evaluate(cfg_.eval_batches, &comm_);
  log_info("eval ({}) step {}: {} | {:.1f}s", when, step, r.text, seconds_since(t0));
  if (metrics_) {
    nlohmann::json record = {{"type", "eval"}, {"when", when}, {"step", step}};
    record.update(r.metrics);
    record.update(r.details);
    metrics_->write(record);
  }
  return r;
}

void Trainer::save(int64_t step) {
  gather_master_weights(model_, opt_, comm_);
  TrainState s;
  s.step = step;
  s.tokens_seen = tokens_seen_;
  s.loader = task_->loader_state();
  s.run = run_geometry();
  const std::string dir = save_checkpoint(cfg_.output_dir, model_, opt_, s, comm_, zero1());
  shard_master_weights(model_, opt_, zero1());
  log_info("checkpoint written: {}", dir);
}

void Trainer::log_train_step(int64_t step, const StepStats& st, Progress& progress) {
  const double tps = static_cast<double>(st.tokens) / std::max(st.seconds, 1e-9);
  const std::string items = task_->counted_items();
  if (metrics_)
    metrics_->write({{"type", "train"}, {"step", step + 1}, {"loss", st.loss}, {"lr", cfg_.schedule.lr(step)},
                     {"grad_norm", st.grad_norm}, {items + "_per_s", tps}, {"step_s", st.seconds},
                     {"compute_s", st.seconds - st.comm_wait_seconds}, {"comm_wait_s", st.comm_wait_seconds},
                     {items + "_seen", tokens_seen_}});
  progress.update(step + 1, st.loss, tps, cfg_.schedule.lr(step), st.seconds, st.comm_wait_seconds);
}

bool Trainer::stop_agreed() const {
  if (!cfg_.save_on_signal) return false;
  // Every rank must stop at the same step: any rank's signal counts.
  return comm_.all_reduce_scalar(stop_requested() ? 1.0 : 0.0, ReduceOp::Sum) > 0.0;
}

nlohmann::json Trainer::run() {
  if (cfg_.save_on_signal) install_stop_signal_handlers();
  log_info("training {} steps ({} x {} {} per rank per step, {} ranks), {} parameters", total_steps_ - start_step_,
           cfg_.micro_batch, cfg_.grad_accum, task_->row_description(), comm_.world_size(),
           model_.params().numel());
  const std::optional<EvalReport> before = run_eval(start_step_, "start");
  Progress progress(total_steps_, start_step_, cfg_.progress, static_cast<int>(cfg_.log_every),
                    task_->throughput_unit());
  StepStats last;
  for (int64_t step = start_step_; step < total_steps_; ++step) {
    last = train_step(step);
    tokens_seen_ += last.tokens;
    TEMPER_CHECK(std::isfinite(last.loss), "training diverged: loss is {} at step {}", last.loss, step + 1);
    log_train_step(step, last, progress);
    const bool end = step + 1 == total_steps_;
    if (cfg_.eval_every > 0 && (step + 1) % cfg_.eval_every == 0 && !end) {
      progress.finish();
      run_eval(step + 1, "periodic");
    }
    const bool saved = cfg_.save_every > 0 && (step + 1) % cfg_.save_every == 0 && !end;
    if (saved) {
      progress.finish();
      save(step + 1);
    }
    if (!end && stop_agreed()) {
      progress.finish();
      log_info("stop signal received: checkpointing step {} and stopping", step + 1);
      if (!saved) save(step + 1);  // a second save of the step would replace the one `latest` names
      return {{"type", "summary"}, {"interrupted", true}, {"steps", step + 1}, {task_->counted_items() + "_seen", tokens_seen_},
              {"final_train_loss", last.loss}, {"world_size", comm_.world_size()},
              {"resume", (std::filesystem::path(cfg_.output_dir) / "checkpoints").string() + " (--resume latest)"}};
    }
  }
  progress.finish();
  const std::optional<EvalReport> after = run_eval(total_steps_, "end");
  gather_master_weights(model_, opt_, comm_);
  if (comm_.rank() == 0) model_.save_pretrained(cfg_.output_dir);
  nlohmann::json summary = {{"type", "summary"}, {"steps", total_steps_},
                            {task_->counted_items() + "_seen", tokens_seen_},
                            {"final_train_loss", last.loss}, {"world_size", comm_.world_size()},
                            {"peak_memory_mib", static_cast<double>(peak_memory_bytes(cfg_.device)) / (1 << 20)},
                            {"recompute", cfg_.recompute}};
  log_info("peak {} memory: {:.1f} MiB{}", device_name(cfg_.device), summary["peak_memory_mib"].get<double>(),
           cfg_.device == Device::Cpu ? " (process resident set)" : " (allocated tensors)");
  for (const auto& [report, suffix] : {std::pair{&before, "_start"}, std::pair{&after, "_end"}})
    if (*report)
      for (const auto& [name, value] : (*report)->metrics.items()) summary["val_" + name + suffix] = value;
  if (metrics_) metrics_->write(summary);
  return summary;
}

}  // namespace temper
