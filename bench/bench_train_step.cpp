// Training-step throughput for GPT-2 shapes (random init): tokens/s and MFU. MFU is against the
// measured matmul peak of this device (f32 sgemm on CPU, bf16 cuBLASLt on CUDA) unless
// --peak-tflops gives a nominal one. Prints a table and writes JSON (--json FILE).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels/matmul.h"
#include "models/gpt2/gpt2_model.h"
#include "runtime/device_memory.h"
#include "runtime/train/adamw_optimizer.h"

using namespace temper;
using Clock = std::chrono::steady_clock;

namespace {

Tensor random_tensor(const Shape& s, DType dt, Device d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor h = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < h.numel(); ++i) h.data<float>()[i] = n(rng);
  if (dt == DType::F32) return h.to(d);
  Tensor c = Tensor::empty(s, dt);
  for (int64_t i = 0; i < h.numel(); ++i) c.data<uint16_t>()[i] = f32_to_bf16(h.data<float>()[i]);
  return c.to(d);
}

// Median TFLOP/s of an n x n x n matmul in the compute dtype.
double measure_peak_tflops(Device d, DType dt, int64_t n, int reps) {
  Tensor a = random_tensor({n, n}, dt, d, 1), b = random_tensor({n, n}, dt, d, 2);
  Tensor c = Tensor::empty({n, n}, dt, d);
  ops::matmul(c, a, ops::Trans::No, b, ops::Trans::No);
  synchronize(d);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    ops::matmul(c, a, ops::Trans::No, b, ops::Trans::No);
    synchronize(d);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return 2.0 * n * n * n / t[t.size() / 2] / 1e12;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPT-2 training-step benchmark"};
  std::string device = "auto", json_out;
  int64_t batch = 4, seq = 256, steps = 5, warmup = 1, layers = 12, embd = 768, heads = 12, vocab = 50257;
  double peak = 0;
  app.add_option("--device", device)->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--batch", batch);
  app.add_option("--seq-len", seq);
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--layers", layers);
  app.add_option("--embd", embd);
  app.add_option("--heads", heads);
  app.add_option("--vocab", vocab);
  app.add_option("--peak-tflops", peak, "nominal peak for MFU (default: measured matmul peak)");
  app.add_option("--json", json_out);
  CLI11_PARSE(app, argc, argv);
  const Device d = device == "cuda" || (device == "auto" && cuda_available()) ? Device::Cuda : Device::Cpu;
  const DType dt = d == Device::Cuda ? DType::BF16 : DType::F32;

  Gpt2Config cfg;
  cfg.n_layer = static_cast<int>(layers);
  cfg.n_embd = embd;
  cfg.n_head = static_cast<int>(heads);
  cfg.vocab_size = vocab;
  cfg.n_positions = std::max<int64_t>(1024, seq);
  Gpt2Model model(cfg, d, dt);
  model.init_random(1);
  AdamWOptimizer opt(model.params(), AdamWConfig{});
  std::vector<int32_t> tok(static_cast<size_t>(batch * seq));
  std::mt19937 rng(7);
  for (auto& t : tok) t = static_cast<int32_t>(rng() % vocab);
  const Tensor tokens = Tensor::from_i32(tok, {batch, seq}).to(d);
  const Tensor targets = tokens;  // content does not matter for timing
  std::vector<double> times;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    const auto t0 = Clock::now();
    model.params().zero_grads();
    model.forward(tokens);
    model.backward(targets, -100, 1.f / static_cast<float>(batch * seq));
    opt.step(1e-4f, clip_scale(opt.grad_norm(), 1.f));
    synchronize(d);
    if (s >= warmup) times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double step_s = times[times.size() / 2];
  const double tps = static_cast<double>(batch * seq) / step_s;
  const double achieved = tps * model.train_flops_per_token(seq) / 1e12;
  const bool measured_peak = peak <= 0;
  if (measured_peak) peak = measure_peak_tflops(d, dt, d == Device::Cuda ? 8192 : 1024, 5);
  std::printf("%-8s %-6s %10s %6s %6s %10s %12s %10s %10s %8s\n", "device", "dtype", "params", "B", "T", "step_s",
              "tokens/s", "TFLOP/s", "peak", "MFU");
  std::printf("%-8s %-6s %10lld %6lld %6lld %10.3f %12.1f %10.3f %10.3f %7.1f%%\n", device_name(d), dtype_name(dt),
              static_cast<long long>(model.params().numel()), static_cast<long long>(batch),
              static_cast<long long>(seq), step_s, tps, achieved, peak, 100.0 * achieved / peak);
  const nlohmann::json j = {{"device", device_name(d)}, {"dtype", dtype_name(dt)}, {"params", model.params().numel()},
                            {"batch", batch}, {"seq_len", seq}, {"step_s", step_s}, {"tokens_per_s", tps},
                            {"achieved_tflops", achieved}, {"peak_tflops", peak},
                            {"peak_kind", measured_peak ? "measured matmul" : "nominal"}, {"mfu", achieved / peak}};
  if (!json_out.empty()) std::ofstream(json_out) << j.dump(1) << "\n";
  return 0;
}
