// Trainer implementation.
#include "runtime/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "runtime/logger.h"
#include "runtime/nvtx.h"
#include "runtime/train/train_state.h"

namespace temper {
namespace {
AdamWConfig adamw_config(const TrainConfig& c) { return {c.beta1, c.beta2, c.adam_eps, c.weight_decay}; }
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int64_t compute_total_steps(const TrainConfig& cfg, const SequenceLoader& train) {
  if (cfg.max_steps > 0) return cfg.max_steps;
  const double per_epoch = static_cast<double>(train.batches_per_epoch()) / static_cast<double>(cfg.grad_accum);
  const int64_t steps = static_cast<int64_t>(std::ceil(per_epoch * cfg.epochs));
  TEMPER_INPUT_CHECK(steps > 0, cfg.train_file, "size",
                     "{} training windows make no full step of {} x {} sequences; lower --micro-batch/--grad-accum",
                     train.num_windows(), cfg.micro_batch, cfg.grad_accum);
  return steps;
}

Trainer::Trainer(const TrainConfig& cfg, CausalLm& model, SequenceLoader train, std::optional<SequenceLoader> val)
    : cfg_(cfg), model_(model), train_(std::move(train)), val_(std::move(val)),
      opt_(model.params(), adamw_config(cfg)) {
  total_steps_ = compute_total_steps(cfg_, train_);
  cfg_.schedule.total_steps = total_steps_;
  if (cfg_.schedule.warmup_steps == 0 && cfg_.warmup_ratio > 0)
    cfg_.schedule.warmup_steps = static_cast<int64_t>(std::ceil(cfg_.warmup_ratio * static_cast<double>(total_steps_)));
  if (!cfg_.resume.empty()) restore();
  std::filesystem::create_directories(cfg_.output_dir);
  const std::string path =
      cfg_.metrics_file.empty() ? (std::filesystem::path(cfg_.output_dir) / "metrics.jsonl").string() : cfg_.metrics_file;
  metrics_ = std::make_unique<MetricsLog>(path, start_step_ > 0);
}

nlohmann::json Trainer::run_geometry() const {
  return {{"model_type", model_.model_type()}, {"num_parameters", model_.params().numel()},
          {"seq_len", cfg_.seq_len},           {"micro_batch", cfg_.micro_batch},
          {"grad_accum", cfg_.grad_accum},     {"total_steps", total_steps_},
          {"seed", cfg_.seed}};
}

void Trainer::restore() {
  const TrainState s = load_checkpoint(cfg_.resume, cfg_.output_dir, model_, opt_);
  const nlohmann::json want = run_geometry();
  for (const auto& [key, value] : want.items())
    TEMPER_INPUT_CHECK(s.run.contains(key) && s.run[key] == value, cfg_.resume, "run." + key,
                       "checkpoint has {}, this run has {} (resume with the same settings)",
                       s.run.contains(key) ? s.run[key].dump() : "nothing", value.dump());
  train_.restore(loader_state_from_json(s.loader, cfg_.resume));
  start_step_ = s.step;
  tokens_seen_ = s.tokens_seen;
  log_info("resumed from {} at step {}", cfg_.resume, start_step_);
}

Trainer::StepStats Trainer::train_step(int64_t step) {
  TEMPER_NVTX("train_step");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Batch> micro(static_cast<size_t>(cfg_.grad_accum));
  int64_t kept = 0;
  for (Batch& b : micro) {
    train_.next(b);
    kept += b.num_targets;
  }
  StepStats st;
  model_.params().zero_grads();
  const float dloss = kept > 0 ? 1.f / static_cast<float>(kept) : 0.f;  // mean over the whole step
  LossSum total;
  for (const Batch& b : micro) {
    model_.forward(b.tokens);
    const LossSum s = model_.backward(b.targets, cfg_.ignore_index, dloss);
    total.sum += s.sum;
    total.count += s.count;
    st.tokens += b.tokens.numel();
  }
  st.grad_norm = opt_.grad_norm();
  opt_.step(cfg_.schedule.lr(step), clip_scale(st.grad_norm, cfg_.max_grad_norm));
  st.loss = total.count > 0 ? total.sum / static_cast<double>(total.count) : 0.0;
  st.seconds = seconds_since(t0);
  return st;
}

std::optional<EvalResult> Trainer::run_eval(int64_t step, const char* when) {
  if (!val_) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  const EvalResult r = evaluate(model_, *val_, cfg_.eval_batches);
  log_info("eval ({}) step {}: loss {:.4f} | perplexity {:.3f} | {} tokens | {:.1f}s", when, step, r.loss,
           r.perplexity, r.targets, seconds_since(t0));
  metrics_->write({{"type", "eval"}, {"when", when}, {"step", step}, {"loss", r.loss}, {"perplexity", r.perplexity},
                   {"tokens", r.targets}});
  return r;
}

void Trainer::save(int64_t step) {
  TrainState s;
  s.step = step;
  s.tokens_seen = tokens_seen_;
  s.loader = loader_state_to_json(train_.state());
  s.run = run_geometry();
  const std::string dir = save_checkpoint(cfg_.output_dir, model_, opt_, s);
  log_info("checkpoint written: {}", dir);
}

nlohmann::json Trainer::run() {
  log_info("training {} steps ({} x {} sequences of {} tokens per step), {} parameters", total_steps_ - start_step_,
           cfg_.micro_batch, cfg_.grad_accum, cfg_.seq_len, model_.params().numel());
  const std::optional<EvalResult> before = run_eval(start_step_, "start");
  Progress progress(total_steps_, start_step_, cfg_.progress, static_cast<int>(cfg_.log_every));
  StepStats last;
  for (int64_t step = start_step_; step < total_steps_; ++step) {
    last = train_step(step);
    tokens_seen_ += last.tokens;
    const double tps = last.tokens / std::max(last.seconds, 1e-9);
    metrics_->write({{"type", "train"}, {"step", step + 1}, {"loss", last.loss}, {"lr", cfg_.schedule.lr(step)},
                     {"grad_norm", last.grad_norm}, {"tokens_per_s", tps}, {"step_s", last.seconds},
                     {"tokens_seen", tokens_seen_}});
    TEMPER_CHECK(std::isfinite(last.loss), "training diverged: loss is {} at step {}", last.loss, step + 1);
    progress.update(step + 1, last.loss, tps, cfg_.schedule.lr(step));
    const bool end = step + 1 == total_steps_;
    if (cfg_.eval_every > 0 && (step + 1) % cfg_.eval_every == 0 && !end) {
      progress.finish();
      run_eval(step + 1, "periodic");
    }
    if (cfg_.save_every > 0 && (step + 1) % cfg_.save_every == 0 && !end) {
      progress.finish();
      save(step + 1);
    }
  }
  progress.finish();
  const std::optional<EvalResult> after = run_eval(total_steps_, "end");
  model_.save_pretrained(cfg_.output_dir);
  nlohmann::json summary = {{"type", "summary"}, {"steps", total_steps_}, {"tokens_seen", tokens_seen_},
                            {"final_train_loss", last.loss}};
  if (before) summary["val_loss_start"] = before->loss, summary["val_perplexity_start"] = before->perplexity;
  if (after) summary["val_loss_end"] = after->loss, summary["val_perplexity_end"] = after->perplexity;
  metrics_->write(summary);
  return summary;
}

}  // namespace temper
