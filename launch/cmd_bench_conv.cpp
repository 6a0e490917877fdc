// `temper bench conv`: ResNet-50's distinct convolutions (kernels/conv2d.h: forward, backward-data,
// backward-filter; x NHWC, w KRSC) timed at a training batch, as TFLOP/s and as a share of the dense
// matmul peak measured in the same run (ops::matmul, 8192^3 on CUDA, 1024^3 on the CPU); a
// whole-network line weights each shape by its number of layers in ResNet-50 (a conv-only images/s
// estimate). Optionally next to PyTorch (--peer, e.g. bench/peer_torch_conv.py, run once as a separate
// process after our sweep), and with --accuracy an error check of our three passes at batch 1 against
// the CPU f32 reference or, with a peer, against the peer's fp64 reference next to torch's own error.
//
// FLOPs: 2 N P Q K R S C/groups for each of the three passes. A measurement is the median over --iters
// back-to-back calls after --warmup calls, each call between two CUDA events on the compute stream
// (CPU: clock reads); the passes are timed separately on fixed inputs (normal(0, 1), one seeded pool
// whose slices serve as x, w and dy of every layer). The weight gradient is f32 in every dtype, as the
// trainer's gradient buffer is. On a device whose convolutions do not run (CUDA until issue 7's kernels
// land) the command stops before measuring anything, with one error line.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/conv2d.h"
#include "launch/bench_util.h"
#include "launch/commands.h"
#include "launch/common_options.h"
#include "runtime/device_memory.h"

namespace temper::cli {
namespace {

namespace fs = std::filesystem;
using bench::dtype_flag;
using bench::field;
using bench::text_of;
using nlohmann::json;

constexpr int64_t kCudaBatch = 32;
constexpr int64_t kCpuBatch = 2;
constexpr int64_t kMaxFlagValue = int64_t{1} << 20;            // bound of --batch and --size (a clear range message)
constexpr double kMaxPoolElements = double(int64_t{1} << 40);  // x + w + y of one layer (no memory holds more)
constexpr int64_t kAlign = 128;                                // elements: operand views start 256-byte aligned

// One distinct convolution of torchvision's ResNet-50 (v1.5: the stride sits on the 3x3), named after
// the first module of that shape. `level` is the resolution of its input: 0 the image (--size), 1..4
// the input of stage 1..4 (56, 28, 14, 7 at 224); `count` is how many of ResNet-50's 53 convolutions
// have this shape.
struct LayerSpec {
  const char* name;
  int level;
  int64_t c, k, r, stride, pad;
  int count;
};

const LayerSpec kResNet50[] = {
    {"conv1", 0, 3, 64, 7, 2, 3, 1},  // the stem; a 3x3/2 max pool follows
    {"layer1.0.conv1", 1, 64, 64, 1, 1, 0, 1},
    {"layer1.0.conv2", 1, 64, 64, 3, 1, 1, 3},
    {"layer1.0.conv3", 1, 64, 256, 1, 1, 0, 4},  // 3 conv3 + layer1.0.downsample.0 (same shape, stride 1)
    {"layer1.1.conv1", 1, 256, 64, 1, 1, 0, 2},
    {"layer2.0.conv1", 1, 256, 128, 1, 1, 0, 1},
    {"layer2.0.conv2", 1, 128, 128, 3, 2, 1, 1},
    {"layer2.0.downsample.0", 1, 256, 512, 1, 2, 0, 1},
    {"layer2.0.conv3", 2, 128, 512, 1, 1, 0, 4},
    {"layer2.1.conv1", 2, 512, 128, 1, 1, 0, 3},
    {"layer2.1.conv2", 2, 128, 128, 3, 1, 1, 3},
    {"layer3.0.conv1", 2, 512, 256, 1, 1, 0, 1},
    {"layer3.0.conv2", 2, 256, 256, 3, 2, 1, 1},
    {"layer3.0.downsample.0", 2, 512, 1024, 1, 2, 0, 1},
    {"layer3.0.conv3", 3, 256, 1024, 1, 1, 0, 6},
    {"layer3.1.conv1", 3, 1024, 256, 1, 1, 0, 5},
    {"layer3.1.conv2", 3, 256, 256, 3, 1, 1, 5},
    {"layer4.0.conv1", 3, 1024, 512, 1, 1, 0, 1},
    {"layer4.0.conv2", 3, 512, 512, 3, 2, 1, 1},
    {"layer4.0.downsample.0", 3, 1024, 2048, 1, 2, 0, 1},
    {"layer4.0.conv3", 4, 512, 2048, 1, 1, 0, 3},
    {"layer4.1.conv1", 4, 2048, 512, 1, 1, 0, 2},
    {"layer4.1.conv2", 4, 512, 512, 3, 1, 1, 2},
};
constexpr int kLayerCount = int(sizeof(kResNet50) / sizeof(kResNet50[0]));
constexpr int kResNet50Convs = 53;

enum class Pass { Fwd, BwdData, BwdFilter };
constexpr Pass kPasses[] = {Pass::Fwd, Pass::BwdData, Pass::BwdFilter};
const char* pass_name(Pass p) { return p == Pass::Fwd ? "fwd" : p == Pass::BwdData ? "bwd_data" : "bwd_filter"; }

struct BenchConvOptions {
  bench::RunFlags run;
  std::string dtype = "auto";
  int64_t batch = 0, size = 224;  // batch 0: by device
  std::vector<std::string> layers;
};

// One problem: x[N,H,H,C] * w[K,R,R,C] -> y[N,P,P,K] (square images and filters, one group).
struct Problem {
  int layer = 0;  // index into kResNet50
  int64_t n = 0, h = 0, p = 0;
  const LayerSpec& spec() const { return kResNet50[layer]; }
  ops::Conv2dParams params() const { return ops::Conv2dParams::square(spec().stride, spec().pad); }
  Shape x_shape() const { return {n, h, h, spec().c}; }
  Shape w_shape() const { return {spec().k, spec().r, spec().r, spec().c}; }
  Shape y_shape() const { return {n, p, p, spec().k}; }
  double flops() const {
    const LayerSpec& l = spec();
    return 2.0 * double(n) * double(p) * double(p) * double(l.k) * double(l.r) * double(l.r) * double(l.c);
  }
};

struct Setup {
  Device device = Device::Cpu;
  DType dtype = DType::F32;
  int warmup = 0, iters = 1;
  int64_t batch = 0, size = 0;
  std::vector<Problem> problems;  // in kResNet50's order
};

// One timed (layer, pass); peer_s: the peer's seconds, null when it has none.
struct Row {
  int problem = 0;  // index into Setup::problems
  Pass pass = Pass::Fwd;
  double seconds = 0, flops = 0;
  json peer_s;
};

// The conv-only forward + backward time of one batch through the selected layers, each weighted by its
// count; the stem's backward-data is left out (no network needs the gradient of its input images).
struct NetworkSum {
  int convs = 0;
  double ours = 0, peer = 0;
  bool peer_complete = true;
};

// ---- problems -----------------------------------------------------------------------------------

// Input sizes of levels 0..4 for an image of `size`: stem 7x7/2 pad 3, max pool 3x3/2 pad 1, then one
// stride-2 3x3 (pad 1) per stage.
std::vector<int64_t> level_sizes(int64_t size) {
  std::vector<int64_t> s{size};
  const int64_t stem = ops::conv2d_output_size(size, 7, 2, 3, 1);
  s.push_back(ops::conv2d_output_size(stem, 3, 2, 1, 1));
  for (int i = 0; i < 3; ++i) s.push_back(ops::conv2d_output_size(s.back(), 3, 2, 1, 1));
  return s;
}

Problem make_problem(int layer, int64_t batch, int64_t size) {
  const LayerSpec& l = kResNet50[layer];
  Problem pr;
  pr.layer = layer;
  pr.n = batch;
  pr.h = level_sizes(size)[size_t(l.level)];
  pr.p = ops::conv2d_output_size(pr.h, l.r, l.stride, l.pad, 1);
  return pr;
}

std::string layer_names() {
  std::string s;
  for (const LayerSpec& l : kResNet50) s += (s.empty() ? "" : ", ") + std::string(l.name);
  return s;
}

// A layer by its name or its row number (0-based, the order of the table).
int layer_index(const std::string& key) {
  for (int i = 0; i < kLayerCount; ++i)
    if (key == kResNet50[i].name) return i;
  const bool digits = !key.empty() && key.size() < 4 &&
                      std::all_of(key.begin(), key.end(), [](unsigned char ch) { return std::isdigit(ch) != 0; });
  const int i = digits ? std::stoi(key) : -1;
  TEMPER_INPUT_CHECK(i >= 0 && i < kLayerCount, "--layers", key, "not a ResNet-50 layer: give 0..{} or one of {}",
                     kLayerCount - 1, layer_names());
  return i;
}

std::string filter_str(const LayerSpec& l) { return fmt::format("{}x{}/{}", l.r, l.r, l.stride); }

// ---- timing -------------------------------------------------------------------------------------

// Inputs and outputs of one problem: x, w, dy are views of the shared random pool.
struct Operands {
  Tensor x, w, dy, y, dx, dw;
};

int64_t aligned(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One pool of normal(0, 1) values large enough for x, w and dy of every problem.
Tensor random_pool(const Setup& s) {
  int64_t n = 0;
  for (const Problem& pr : s.problems)
    n = std::max(n,
                 aligned(shape_numel(pr.x_shape())) + aligned(shape_numel(pr.w_shape())) + shape_numel(pr.y_shape()));
  return bench::random_tensor({n}, s.dtype, s.device, 1);
}

Operands operands_of(const Tensor& pool, const Problem& pr) {
  Operands o;
  const int64_t wx = aligned(shape_numel(pr.x_shape())), ww = aligned(shape_numel(pr.w_shape()));
  o.x = pool.slice_flat(0, pr.x_shape());
  o.w = pool.slice_flat(wx, pr.w_shape());
  o.dy = pool.slice_flat(wx + ww, pr.y_shape());
  o.y = Tensor::empty(pr.y_shape(), pool.dtype(), pool.device());
  o.dx = Tensor::empty(pr.x_shape(), pool.dtype(), pool.device());
  o.dw = Tensor::empty(pr.w_shape(), DType::F32, pool.device());
  return o;
}

void run_pass(Pass pass, const Operands& o, const ops::Conv2dParams& prm) {
  switch (pass) {
    case Pass::Fwd:
      ops::conv2d_forward(o.y, o.x, o.w, Tensor(), prm);
      return;
    case Pass::BwdData:
      ops::conv2d_backward_data(o.dx, o.dy, o.w, prm);
      return;
    case Pass::BwdFilter:
      ops::conv2d_backward_filter(o.dw, Tensor(), o.dy, o.x, prm);
      return;
  }
}

std::string problem_str(const Problem& pr) {
  const LayerSpec& l = pr.spec();
  return fmt::format("{} N={} H={} C={} K={} {}", l.name, pr.n, pr.h, l.c, l.k, filter_str(l));
}

// Our time for every problem and pass (progress on stderr).
std::vector<Row> measure_layers(const Setup& s) {
  const Tensor pool = random_pool(s);
  std::vector<Row> rows;
  for (size_t i = 0; i < s.problems.size(); ++i) {
    const Problem& pr = s.problems[i];
    std::fprintf(stderr, "bench conv [%zu/%zu] %s\n", i + 1, s.problems.size(), problem_str(pr).c_str());
    const Operands o = operands_of(pool, pr);
    const ops::Conv2dParams prm = pr.params();
    for (Pass pass : kPasses) {
      const double sec = bench::median_seconds(s.device, s.warmup, s.iters, [&] { run_pass(pass, o, prm); });
      rows.push_back({int(i), pass, sec, pr.flops(), json()});
    }
  }
  return rows;
}

NetworkSum network_sum(const Setup& s, const std::vector<Row>& rows) {
  NetworkSum sum;
  for (const Problem& pr : s.problems) sum.convs += pr.spec().count;
  for (const Row& r : rows) {
    const Problem& pr = s.problems[size_t(r.problem)];
    if (pr.layer == 0 && r.pass == Pass::BwdData) continue;
    sum.ours += pr.spec().count * r.seconds;
    if (r.peer_s.is_number())
      sum.peer += pr.spec().count * r.peer_s.get<double>();
    else
      sum.peer_complete = false;
  }
  return sum;
}

// ---- accuracy -----------------------------------------------------------------------------------

// max |got - ref| / max |ref| (the error on the output's own scale), max |got - ref| and the relative
// RMS error; a NaN makes them NaN (null in the JSON).
json error_of(const Tensor& got, const Tensor& ref) {
  const std::vector<float> x = got.to_host_f32().to_vector(), y = ref.to_host_f32().to_vector();
  double max_abs = 0, max_ref = 0, num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = double(x[i]) - double(y[i]);
    nan = nan || std::isnan(d);
    max_abs = std::max(max_abs, std::abs(d));
    max_ref = std::max(max_ref, std::abs(double(y[i])));
    num += d * d;
    den += double(y[i]) * y[i];
  }
  if (nan) max_abs = NAN;  // written as null: a NaN must not hide behind std::max
  return {{"max_rel", max_abs / std::max(max_ref, 1e-30)},
          {"max_abs", max_abs},
          {"rel_rms", nan ? NAN : std::sqrt(num / std::max(den, 1e-30))}};
}

// Inputs x, w, dy and the three results of one problem.
Operands run_all_passes(const Tensor& x, const Tensor& w, const Tensor& dy, const Problem& pr) {
  Operands o;
  o.x = x, o.w = w, o.dy = dy;
  o.y = Tensor::empty(pr.y_shape(), x.dtype(), x.device());
  o.dx = Tensor::empty(pr.x_shape(), x.dtype(), x.device());
  o.dw = Tensor::empty(pr.w_shape(), DType::F32, x.device());
  for (Pass pass : kPasses) run_pass(pass, o, pr.params());
  return o;
}

// The three passes once on a tiny stem problem on the bench device, so that a device whose convolutions
// do not run (CUDA until issue 7's kernels land) fails at once, in one line, before any measurement.
void check_device_runs_conv(const Setup& s) {
  if (s.device == Device::Cpu) return;
  const Problem pr = make_problem(0, 1, 8);
  try {
    run_all_passes(bench::random_tensor(pr.x_shape(), s.dtype, s.device, 1),
                   bench::random_tensor(pr.w_shape(), s.dtype, s.device, 2),
                   bench::random_tensor(pr.y_shape(), s.dtype, s.device, 3), pr);
    synchronize(s.device);
  } catch (const Error& e) {
    throw InputError("--device", device_name(s.device),
                     fmt::format("the convolutions do not run on this device (use --device cpu): {}", e.what()));
  }
}

// One layer at batch 1 in the bench dtype on the bench device and in f32 on the CPU (from the same
// rounded inputs); writes the inputs and our results as raw f32 to dir. Returns the peer's manifest
// entry with our errors against the CPU f32 reference.
json accuracy_case(const Setup& s, Problem pr, int index, const fs::path& dir) {
  pr.n = 1;
  const uint64_t seed = 100 + 10 * uint64_t(index);
  const Operands ours = run_all_passes(bench::random_tensor(pr.x_shape(), s.dtype, s.device, seed),
                                       bench::random_tensor(pr.w_shape(), s.dtype, s.device, seed + 1),
                                       bench::random_tensor(pr.y_shape(), s.dtype, s.device, seed + 2), pr);
  const Operands ref = run_all_passes(ours.x.to_host_f32(), ours.w.to_host_f32(), ours.dy.to_host_f32(), pr);
  json files = json::object();
  const std::pair<const char*, const Tensor*> all[] = {{"x", &ref.x},  {"w", &ref.w},    {"dy", &ref.dy},
                                                       {"y", &ours.y}, {"dx", &ours.dx}, {"dw", &ours.dw}};
  for (const auto& [name, t] : all) {
    const fs::path path = dir / fmt::format("case{}_{}.f32", index, name);
    bench::write_f32(path, *t);
    files[name] = path.string();
  }
  const json errors = {{"fwd", error_of(ours.y, ref.y)},
                       {"bwd_data", error_of(ours.dx, ref.dx)},
                       {"bwd_filter", error_of(ours.dw, ref.dw)}};
  const LayerSpec& l = pr.spec();
  return {{"layer", l.name},
          {"batch", pr.n},
          {"h", pr.h},
          {"c", l.c},
          {"k", l.k},
          {"r", l.r},
          {"stride", l.stride},
          {"pad", l.pad},
          {"p", pr.p},
          {"files", files},
          {"ours_vs_cpu_f32", errors}};
}

std::vector<json> run_accuracy(const Setup& s, const fs::path& dir) {
  std::vector<json> cases;
  for (size_t i = 0; i < s.problems.size(); ++i) {
    std::fprintf(stderr, "bench conv accuracy [%zu/%zu] %s\n", i + 1, s.problems.size(), s.problems[i].spec().name);
    cases.push_back(accuracy_case(s, s.problems[i], int(i), dir));
  }
  return cases;
}

// ---- the peer -----------------------------------------------------------------------------------

json layer_json(const Problem& pr) {
  const LayerSpec& l = pr.spec();
  return {{"layer", l.name}, {"count", l.count}, {"batch", pr.n}, {"h", pr.h}, {"w", pr.h},
          {"c", l.c},        {"k", l.k},         {"r", l.r},      {"s", l.r},  {"stride", l.stride},
          {"pad", l.pad},    {"groups", 1},      {"p", pr.p},     {"q", pr.p}};
}

// cases: the accuracy entries less our own errors.
json peer_request(const Setup& s, const json& cases) {
  json layers = json::array();
  for (const Problem& pr : s.problems) layers.push_back(layer_json(pr));
  return {{"device", device_name(s.device)},
          {"dtype", dtype_flag(s.dtype)},
          {"warmup", s.warmup},
          {"iters", s.iters},
          {"layers", layers},
          {"accuracy", cases}};
}

// The peer's seconds for each row (by position in the request; its layer name must match).
void attach_peer_times(const Setup& s, std::vector<Row>& rows, const json& peer) {
  if (!peer.contains("timing") || !peer["timing"].is_array()) return;
  const json& timing = peer["timing"];
  for (Row& r : rows) {
    if (size_t(r.problem) >= timing.size() || !timing[size_t(r.problem)].is_object()) continue;
    const json& t = timing[size_t(r.problem)];
    if (field(t, "layer") != json(s.problems[size_t(r.problem)].spec().name)) continue;
    const json sec = field(t, std::string(pass_name(r.pass)) + "_s");
    r.peer_s = sec.is_number() && sec.get<double>() > 0 ? sec : json();
  }
}

// ---- report -------------------------------------------------------------------------------------

std::string ratio_cell(const Row& r) {
  return r.peer_s.is_number() ? fmt::format("{:.2f}", r.peer_s.get<double>() / r.seconds) : "-";
}

void print_header(const Setup& s, const bench::Peak& peak, const json& machine, const json& peer, bool with_peer) {
  const std::string gpu = machine["gpu"].is_string() ? machine["gpu"].get<std::string>() : "";
  std::printf(
      "temper bench conv: ResNet-50 convolutions, %s%s%s, %s, batch %lld, %lldx%lld images, median of %d calls "
      "after %d warm-up\n",
      device_name(s.device), gpu.empty() ? "" : " ", gpu.c_str(), dtype_flag(s.dtype), static_cast<long long>(s.batch),
      static_cast<long long>(s.size), static_cast<long long>(s.size), s.iters, s.warmup);
  std::printf("matmul peak (%s, %lld^3): %.2f TFLOP/s\n", dtype_flag(peak.dtype), static_cast<long long>(peak.n),
              peak.tflops());
  if (with_peer && peer.contains("error"))
    std::printf("peer FAILED: %s\n", text_of(field(peer, "error")).c_str());
  else if (with_peer)
    std::printf("peer: torch %s (%s); x torch = torch time / our time (> 1: we are faster)\n",
                text_of(field(peer, "torch")).c_str(), text_of(field(peer, "layout")).c_str());
}

void print_table(const Setup& s, const std::vector<Row>& rows, const bench::Peak& peak, bool with_peer) {
  std::printf("%-22s %5s %4s %4s %4s %6s %-10s %10s %8s %6s", "layer", "count", "H", "C", "K", "filter", "pass",
              "time_ms", "TFLOP/s", "%peak");
  if (with_peer) std::printf(" %10s %8s", "torch_ms", "x torch");
  std::printf("\n");
  for (const Row& r : rows) {
    const Problem& pr = s.problems[size_t(r.problem)];
    const LayerSpec& l = pr.spec();
    const double tf = r.flops / r.seconds / 1e12;
    std::printf("%-22s %5d %4lld %4lld %4lld %6s %-10s %10.3f %8.3f %6.1f", l.name, l.count,
                static_cast<long long>(pr.h), static_cast<long long>(l.c), static_cast<long long>(l.k),
                filter_str(l).c_str(), pass_name(r.pass), r.seconds * 1e3, tf, 100.0 * tf / peak.tflops());
    if (with_peer) {
      const std::string ms = r.peer_s.is_number() ? fmt::format("{:.3f}", r.peer_s.get<double>() * 1e3) : "-";
      std::printf(" %10s %8s", ms.c_str(), ratio_cell(r).c_str());
    }
    std::printf("\n");
  }
}

void print_network(const Setup& s, const NetworkSum& sum, bool with_peer) {
  const bool whole = sum.convs == kResNet50Convs;
  std::printf("\n%s: %d of %d convolutions, forward + backward (the stem's backward-data left out)\n",
              whole ? "ResNet-50" : "ResNet-50, selected layers only", sum.convs, kResNet50Convs);
  std::printf("  temper: %.3f ms per batch of %lld => %.1f images/s (convolutions only)\n", sum.ours * 1e3,
              static_cast<long long>(s.batch), double(s.batch) / sum.ours);
  if (!with_peer) return;
  if (!sum.peer_complete) {
    std::printf("  torch:  - (the peer has no time for some layer)\n");
    return;
  }
  std::printf("  torch:  %.3f ms per batch => %.1f images/s; x torch %.2f\n", sum.peer * 1e3,
              double(s.batch) / sum.peer, sum.peer / sum.ours);
}

std::string err_cell(const json& e) {
  if (!e.is_object() || !e.contains("max_rel")) return "-";
  const json& m = e["max_rel"];
  return m.is_number() ? fmt::format("{:.2e}", m.get<double>()) : "nan";
}

// Against the peer's fp64 reference when it gave one, else against the CPU f32 reference.
void print_accuracy(const Setup& s, const std::vector<json>& cases, const json& peer) {
  const json acc = field(peer, "accuracy");
  const bool fp64 = acc.is_array() && acc.size() == cases.size() && !cases.empty();
  std::printf("\naccuracy at batch 1, %s on %s: max |error| / max |reference| vs %s\n", dtype_flag(s.dtype),
              device_name(s.device),
              fp64 ? "the peer's fp64 reference (torch in the same dtype next to ours; ours vs torch directly)"
                   : "the CPU f32 reference");
  std::printf("%-22s %-10s %10s", "layer", "pass", "ours");
  if (fp64) std::printf(" %10s %14s", "torch", "ours vs torch");
  std::printf("\n");
  for (size_t i = 0; i < cases.size(); ++i) {
    const json entry = fp64 ? acc[i] : json();
    for (Pass pass : kPasses) {
      const char* p = pass_name(pass);
      const json ours = fp64 ? field(field(entry, "ours"), p) : cases[i]["ours_vs_cpu_f32"][p];
      std::printf("%-22s %-10s %10s", cases[i]["layer"].get<std::string>().c_str(), p, err_cell(ours).c_str());
      if (fp64)
        std::printf(" %10s %14s", err_cell(field(field(entry, "torch"), p)).c_str(),
                    err_cell(field(field(entry, "ours_vs_torch"), p)).c_str());
      std::printf("\n");
    }
  }
}

json rows_json(const Setup& s, const std::vector<Row>& rows, const bench::Peak& peak) {
  json out = json::array();
  for (const Row& r : rows) {
    const double tf = r.flops / r.seconds / 1e12;
    json row = layer_json(s.problems[size_t(r.problem)]);
    row["pass"] = pass_name(r.pass);
    row["time_ms"] = r.seconds * 1e3;
    row["flops"] = r.flops;
    row["tflops"] = tf;
    row["pct_of_peak"] = 100.0 * tf / peak.tflops();
    row["peer_time_ms"] = r.peer_s.is_number() ? json(r.peer_s.get<double>() * 1e3) : json();
    row["ratio_peer_over_ours"] = r.peer_s.is_number() ? json(r.peer_s.get<double>() / r.seconds) : json();
    out.push_back(row);
  }
  return out;
}

json network_json(const Setup& s, const NetworkSum& sum, bool with_peer) {
  json n = {{"convolutions", sum.convs},
            {"of", kResNet50Convs},
            {"step_ms", sum.ours * 1e3},
            {"images_per_s", double(s.batch) / sum.ours},
            {"counts",
             "forward + backward-data + backward-filter of each layer times its count; no stem "
             "backward-data"}};
  const bool peer = with_peer && sum.peer_complete;
  n["peer_step_ms"] = peer ? json(sum.peer * 1e3) : json();
  n["peer_images_per_s"] = peer ? json(double(s.batch) / sum.peer) : json();
  n["ratio_peer_over_ours"] = peer ? json(sum.peer / sum.ours) : json();
  return n;
}

// ---- flags --------------------------------------------------------------------------------------

DType resolve_dtype(const std::string& flag, Device device) {
  if (flag == "auto") return device == Device::Cuda ? DType::BF16 : DType::F32;
  const DType dt = flag == "bf16" ? DType::BF16 : DType::F32;
  TEMPER_INPUT_CHECK(device == Device::Cuda || dt == DType::F32, "--dtype", flag,
                     "the CPU convolution runs fp32 only (use --device cuda for bf16)");
  return dt;
}

// x, w and y of every problem fit kMaxPoolElements (counted in double: --batch x --size^2 can pass int64).
void check_sizes(const Setup& s) {
  const auto elements = [](const Shape& shape) {
    double n = 1;
    for (int64_t d : shape) n *= double(d);
    return n;
  };
  for (const Problem& pr : s.problems) {
    const double n = elements(pr.x_shape()) + elements(pr.w_shape()) + elements(pr.y_shape());
    TEMPER_INPUT_CHECK(n <= kMaxPoolElements, "--batch/--size", fmt::format("{}/{}", s.batch, s.size),
                       "{} would take {:.3g} elements, more than any memory holds (at most 2^40)", pr.spec().name, n);
  }
}

// The selected layers in table order, each once (all when --layers is not given).
std::vector<Problem> build_problems(const BenchConvOptions& o, int64_t batch) {
  std::vector<bool> chosen(kLayerCount, o.layers.empty());
  for (const std::string& key : o.layers) chosen[size_t(layer_index(key))] = true;
  std::vector<Problem> v;
  for (int i = 0; i < kLayerCount; ++i)
    if (chosen[size_t(i)]) v.push_back(make_problem(i, batch, o.size));
  return v;
}

Setup resolve(const BenchConvOptions& o) {
  Setup s;
  const bench::RunSetup run = bench::resolve_run(o.run);
  s.device = run.device, s.warmup = run.warmup, s.iters = run.iters;
  s.dtype = resolve_dtype(o.dtype, s.device);
  s.batch = o.batch > 0 ? o.batch : (s.device == Device::Cuda ? kCudaBatch : kCpuBatch);
  s.size = o.size;
  s.problems = build_problems(o, s.batch);
  check_sizes(s);
  return s;
}

json result_doc(const Setup& s, const json& machine, const bench::Peak& peak, const std::vector<Row>& rows,
                const NetworkSum& sum, bool with_peer) {
  return {{"benchmark", "conv"},
          {"network", "resnet50"},
          {"machine", machine},
          {"device", device_name(s.device)},
          {"dtype", dtype_flag(s.dtype)},
          {"batch", s.batch},
          {"size", s.size},
          {"warmup", s.warmup},
          {"iters", s.iters},
          {"flops", "2*N*P*Q*K*R*S*C/groups for each pass (fwd, bwd_data, bwd_filter)"},
          {"peak", peak.to_json()},
          {"rows", rows_json(s, rows, peak)},
          {"network_estimate", network_json(s, sum, with_peer)}};
}

int run(const BenchConvOptions& o) {
  const Setup s = resolve(o);
  const bench::RunFlags& f = o.run;
  if (!f.json.empty()) TEMPER_INPUT_CHECK(std::ofstream(f.json).good(), f.json, "--json", "cannot open for writing");
  check_device_runs_conv(s);
  const json machine = bench::machine_info(s.device);
  const bench::Peak peak = bench::measure_matmul_peak(s.device, s.dtype);
  std::vector<Row> rows = measure_layers(s);
  const bench::Extras extras = bench::run_extras(
      f, s.device, "conv", [&](const fs::path& dir) { return run_accuracy(s, dir); },
      [&](const json& cases) { return peer_request(s, cases); });
  const bool with_peer = !f.peer.empty();
  attach_peer_times(s, rows, extras.peer);
  const NetworkSum sum = network_sum(s, rows);
  print_header(s, peak, machine, extras.peer, with_peer);
  print_table(s, rows, peak, with_peer);
  print_network(s, sum, with_peer);
  if (f.accuracy) print_accuracy(s, extras.accuracy, extras.peer);
  if (!f.json.empty()) bench::write_result(result_doc(s, machine, peak, rows, sum, with_peer), f, extras);
  return 0;
}

}  // namespace

Runner add_bench_conv(CLI::App* parent) {
  auto o = std::make_shared<BenchConvOptions>();
  CLI::App* c = parent->add_subcommand("conv", "ResNet-50 convolution forward/backward TFLOP/s per layer");
  bench::add_device_flag(c, o->run);
  c->add_option("--dtype", o->dtype, "auto (bf16 on cuda, fp32 on cpu) | bf16 | fp32")
      ->check(CLI::IsMember({"auto", "bf16", "fp32"}))
      ->capture_default_str();
  c->add_option("--batch", o->batch, "images per batch (0: 32 on cuda, 2 on cpu)")
      ->check(CLI::Range(int64_t{0}, kMaxFlagValue))
      ->capture_default_str();
  c->add_option("--size", o->size, "image height and width; the layers' sizes follow ResNet-50's strides")
      ->check(CLI::Range(int64_t{1}, kMaxFlagValue))
      ->capture_default_str();
  c->add_option("--layers", o->layers,
                "comma-separated layer names (conv1, layer1.0.conv1, ...) or table rows 0.." +
                    std::to_string(kLayerCount - 1) + " (default: all)")
      ->delimiter(',');
  bench::add_run_flags(c, o->run, "python3 bench/peer_torch_conv.py",
                       "also check the three passes at batch 1 (vs the peer's fp64 reference when --peer is given)");
  return [o] { return run(*o); };
}

}  // namespace temper::cli
