// `temper bench cnn`: one CNN training step (ResNet-50 by default, random initialisation, synthetic
// normalised images and labels, 1000 classes): forward with batch-norm statistics, cross-entropy,
// backward, AdamW, as the trainer runs it on one rank. Reports the median step time, images/s, and the
// model FLOP rate as a share of the dense matmul peak measured in the same run (MFU): FLOPs per image =
// 3 x 2 x forward multiply-adds (CnnClassifier::forward_macs, equal to torch's flop counter), the
// usual "backward = 2 x forward" convention. Optionally next to PyTorch (--peer, e.g.
// bench/peer_torch_cnn.py: torchvision's model in channels_last with bf16 autocast on CUDA, the same
// batch, AdamW), run once as a separate process after our measurement.
#include <cstdio>
#include <fstream>
#include <random>

#include "kernels/matmul.h"
#include "launch/bench_util.h"
#include "launch/commands.h"
#include "models/vision/cnn_classifier.h"
#include "runtime/device_memory.h"
#include "runtime/train/adamw_optimizer.h"

namespace temper::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kClasses = 1000;

struct BenchCnnOptions {
  bench::RunFlags run;
  std::string arch = "resnet50", dtype = "auto";
  int64_t batch = 0, size = 224;
};

struct Setup {
  Device device = Device::Cpu;
  DType dtype = DType::F32;
  int warmup = 0, iters = 1;
  std::string arch;
  int64_t batch = 0, size = 0;
};

Setup resolve(const BenchCnnOptions& o) {
  Setup s;
  const bench::RunSetup run = bench::resolve_run(o.run);
  s.device = run.device, s.warmup = run.warmup, s.iters = run.iters;
  s.dtype = o.dtype == "bf16" || (o.dtype == "auto" && s.device == Device::Cuda) ? DType::BF16 : DType::F32;
  TEMPER_INPUT_CHECK(s.device == Device::Cuda || s.dtype == DType::F32, "--dtype", o.dtype,
                     "the CPU runs fp32 only (use --device cuda for bf16)");
  s.arch = o.arch;
  s.batch = o.batch > 0 ? o.batch : (s.device == Device::Cuda ? 64 : 2);
  s.size = o.size;
  return s;
}

// The model, its optimizer and one fixed batch; step() is one optimizer step on that batch.
class StepRig {
 public:
  explicit StepRig(const Setup& s)
      : model_(config(s.arch), s.device, s.dtype), opt_(model_.params(), AdamWConfig{}), batch_(s.batch) {
    model_.init_random(1);
    images_ = bench::random_tensor({s.batch, s.size, s.size, 3}, DType::F32, s.device, 3);
    std::mt19937_64 rng(4);
    std::vector<int32_t> labels(static_cast<size_t>(s.batch));
    for (int32_t& l : labels) l = static_cast<int32_t>(rng() % kClasses);
    labels_ = Tensor::from_i32(labels, {s.batch});
  }
  void step() {
    model_.params().zero_grads();
    model_.forward(images_);
    model_.backward(labels_, 1.f / static_cast<float>(batch_));
    opt_.step(1e-4f, clip_scale(opt_.grad_norm(), 1.f));
  }
  const CnnClassifier& model() const { return model_; }

 private:
  static VisionConfig config(const std::string& arch) {
    VisionConfig c = default_vision_config(arch);
    c.labels = numbered_labels(kClasses);
    return c;
  }
  CnnClassifier model_;
  AdamWOptimizer opt_;
  int64_t batch_;
  Tensor images_, labels_;
};

// One step on the bench device before anything is measured, so that a device whose vision ops do not
// run (CUDA until issue 7's kernels land), or a batch that does not fit, fails at once, in one line.
void check_device_runs_step(StepRig& rig, const Setup& s) {
  if (s.device == Device::Cpu) return;
  try {
    rig.step();
    synchronize(s.device);
  } catch (const Error& e) {
    throw InputError("--device", device_name(s.device),
                     fmt::format("the training step failed on this device (--device cpu runs it): {}", e.what()));
  }
}

json peer_request(const Setup& s) {
  return {{"benchmark", "cnn"}, {"arch", s.arch},     {"device", device_name(s.device)},
          {"dtype", bench::dtype_flag(s.dtype)}, {"batch", s.batch}, {"size", s.size},
          {"classes", kClasses}, {"warmup", s.warmup}, {"iters", s.iters}};
}

double peer_step_s(const json& peer) {
  const json t = bench::field(peer, "step_s");
  return t.is_number() ? t.get<double>() : 0;
}

void print_result(const Setup& s, double macs, double step_s, const bench::Peak& peak, const json& peer) {
  const double tflops = 6.0 * macs * double(s.batch) / step_s / 1e12;
  std::printf("temper bench cnn: %s training step, %s, %s, batch %lld, %lldx%lld, median of %d steps after %d\n",
              s.arch.c_str(), device_name(s.device), bench::dtype_flag(s.dtype), static_cast<long long>(s.batch),
              static_cast<long long>(s.size), static_cast<long long>(s.size), s.iters, s.warmup);
  std::printf("forward: %.3f GMAC per image; matmul peak (%s, %lld^3): %.2f TFLOP/s\n", macs / 1e9,
              bench::dtype_flag(peak.dtype), static_cast<long long>(peak.n), peak.tflops());
  std::printf("temper: %.1f ms per step => %.1f images/s, %.2f TFLOP/s, MFU %.1f%%\n", step_s * 1e3,
              double(s.batch) / step_s, tflops, 100.0 * tflops / peak.tflops());
  if (peer.is_null() || (peer.is_object() && peer.empty())) return;
  const double p = peer_step_s(peer);
  if (p > 0)
    std::printf("torch (%s): %.1f ms per step => %.1f images/s; temper x torch %.2f\n",
                bench::text_of(bench::field(peer, "layout")).c_str(), p * 1e3, double(s.batch) / p, p / step_s);
  else
    std::printf("torch: no result (%s)\n", bench::text_of(bench::field(peer, "error")).c_str());
}

int run(const BenchCnnOptions& o) {
  const Setup s = resolve(o);
  const bench::RunFlags& f = o.run;
  TEMPER_INPUT_CHECK(!f.accuracy, "--accuracy", "value",
                     "bench cnn has no accuracy check (tests/test_cnn_models.cpp checks the models against torch)");
  if (!f.json.empty()) TEMPER_INPUT_CHECK(std::ofstream(f.json).good(), f.json, "--json", "cannot open for writing");
  const json machine = bench::machine_info(s.device);
  double step_s = 0, macs = 0;
  {
    StepRig rig(s);
    check_device_runs_step(rig, s);
    macs = rig.model().forward_macs(s.size, s.size);
    step_s = bench::median_seconds(s.device, s.warmup, s.iters, [&] { rig.step(); });
  }
  const bench::Peak peak = bench::measure_matmul_peak(s.device, s.dtype);
  const bench::Extras extras = bench::run_extras(
      f, s.device, "cnn", [](const fs::path&) { return std::vector<json>{}; },
      [&](const json&) { return peer_request(s); });
  print_result(s, macs, step_s, peak, extras.peer);
  const double tflops = 6.0 * macs * double(s.batch) / step_s / 1e12, p = peer_step_s(extras.peer);
  json doc = {{"benchmark", "cnn"}, {"machine", machine}, {"arch", s.arch}, {"device", device_name(s.device)},
              {"dtype", bench::dtype_flag(s.dtype)}, {"batch", s.batch}, {"size", s.size}, {"warmup", s.warmup},
              {"iters", s.iters}, {"forward_macs_per_image", macs},
              {"flops", "6 x forward multiply-adds per image (forward + 2x for backward)"}, {"peak", peak.to_json()},
              {"step_s", step_s}, {"images_per_s", double(s.batch) / step_s}, {"tflops", tflops},
              {"mfu", tflops / peak.tflops()}, {"peer_images_per_s", p > 0 ? json(double(s.batch) / p) : json()},
              {"ratio_peer_over_ours", p > 0 ? json(p / step_s) : json()}};
  if (!f.json.empty()) bench::write_result(doc, f, extras);
  return 0;
}

}  // namespace

Runner add_bench_cnn(CLI::App* parent) {
  auto o = std::make_shared<BenchCnnOptions>();
  CLI::App* c = parent->add_subcommand("cnn", "a CNN training step (ResNet-50): images/s and MFU");
  bench::add_device_flag(c, o->run);
  c->add_option("--arch", o->arch, "the network")->check(CLI::IsMember(vision_architectures()))->capture_default_str();
  c->add_option("--dtype", o->dtype, "auto (bf16 on cuda, fp32 on cpu) | bf16 | fp32")
      ->check(CLI::IsMember({"auto", "bf16", "fp32"}))
      ->capture_default_str();
  c->add_option("--batch", o->batch, "images per step (0: 64 on cuda, 2 on cpu)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 16))
      ->capture_default_str();
  c->add_option("--size", o->size, "image height and width")->check(CLI::Range(int64_t{32}, int64_t{4096}))->capture_default_str();
  bench::add_run_flags(c, o->run, "python3 bench/peer_torch_cnn.py", "not available here (an error): the model tests check accuracy");
  return [o] { return run(*o); };
}

}  // namespace temper::cli
