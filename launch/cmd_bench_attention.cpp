// `temper bench attention`: flash attention (kernels/flash_attention.h) forward and backward time over
// a sweep of sequence lengths, head sizes and masks, as TFLOP/s and as a share of the dense matmul
// peak measured in the same run (ops::matmul, 8192^3 on CUDA); optionally next to PyTorch SDPA's
// backends (--peer, e.g. bench/peer_torch_sdpa.py, run once as a separate process after our sweep),
// and with --accuracy an error check of our outputs and gradients against the CPU f32 reference, or,
// with a peer, of ours and SDPA's against the peer's fp64 reference.
//
// FLOPs follow the FlashAttention papers: forward 4 B NH T^2 HS (half when causal), backward 2.5x the
// forward. A measurement is the median over --iters back-to-back calls after --warmup calls, each call
// between two CUDA events on the compute stream (CPU: clock reads). The backward is timed alone: the
// forward runs once before it and its out and lse are reused. Inputs are normal(0, 1) from fixed seeds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/flash_attention.h"
#include "launch/bench_util.h"
#include "launch/commands.h"
#include "launch/common_options.h"

namespace temper::cli {
namespace {

namespace fs = std::filesystem;
using bench::dtype_flag;
using bench::field;
using bench::text_of;
using nlohmann::json;

constexpr int64_t kCudaTokens = 16384;  // batch x seq of the default sweep (the FlashAttention papers')
constexpr int64_t kCpuTokens = 1024;
constexpr int64_t kCudaHidden = 2048;  // default heads = hidden / head dim
constexpr int64_t kCpuHidden = 256;
constexpr int64_t kMaxFlagValue = int64_t{1} << 40;  // bound of the size flags (a clear range message)
const char* const kBackends[] = {"cudnn", "flash", "efficient", "math"};  // the peer's, in column order
const char* const kAccTensors[] = {"out", "lse", "dq", "dk", "dv"};

struct BenchAttnOptions {
  bench::RunFlags run;
  std::string dtype = "auto", causal = "both", direction = "both";
  int64_t batch = 0, heads = 0, kv_heads = 0;  // 0: by the sweep's rules
  std::vector<int64_t> seq, head_dim;
};

// One attention problem: q[B,T,NH*HS], k/v[B,T,NKV*HS].
struct Config {
  int64_t b = 0, t = 0, nh = 0, nkv = 0, hs = 0;
  bool causal = true;
};

struct Setup {
  Device device = Device::Cpu;
  DType dtype = DType::F32;
  int warmup = 0, iters = 1;
  bool fwd = true, bwd = true;
  std::vector<Config> configs;
};

// One timed (config, direction); peer: backend -> the peer's seconds (null: unsupported or failed).
struct Row {
  int config = 0;
  Config c;
  bool backward = false;
  double seconds = 0, flops = 0;
  json peer = json::object();
};

double attention_flops(const Config& c, bool backward) {
  const double fwd = 4.0 * double(c.b) * double(c.nh) * double(c.t) * double(c.t) * double(c.hs);
  return (c.causal ? 0.5 : 1.0) * fwd * (backward ? 2.5 : 1.0);
}

// ---- inputs -------------------------------------------------------------------------------------

// Operands of one problem: inputs q, k, v, dout; forward outputs out, lse; gradients dq, dk, dv.
struct Operands {
  Tensor q, k, v, dout, out, lse, dq, dk, dv;
};

// Random inputs, reused (reshaped) across configs of equal sizes: the default sweep keeps B*T fixed.
class InputCache {
 public:
  Operands get(const Config& c, DType dt, Device device) {
    const int64_t nq = c.b * c.t * c.nh * c.hs, nkv = c.b * c.t * c.nkv * c.hs;
    if (nq != nq_) {
      q_ = bench::random_tensor({nq}, dt, device, 1);
      dout_ = bench::random_tensor({nq}, dt, device, 4);
      nq_ = nq;
    }
    if (nkv != nkv_) {
      k_ = bench::random_tensor({nkv}, dt, device, 2);
      v_ = bench::random_tensor({nkv}, dt, device, 3);
      nkv_ = nkv;
    }
    Operands x;
    x.q = q_.reshape({c.b, c.t, c.nh * c.hs});
    x.dout = dout_.reshape(x.q.shape());
    x.k = k_.reshape({c.b, c.t, c.nkv * c.hs});
    x.v = v_.reshape(x.k.shape());
    return x;
  }

 private:
  int64_t nq_ = -1, nkv_ = -1;
  Tensor q_, k_, v_, dout_;
};

// Outputs and gradients of x's shapes, uninitialised.
void allocate_outputs(Operands& x, const Config& c, Device device) {
  x.out = Tensor::empty(x.q.shape(), x.q.dtype(), device);
  x.lse = Tensor::empty({c.b, c.nh, c.t}, DType::F32, device);
  x.dq = Tensor::empty(x.q.shape(), x.q.dtype(), device);
  x.dk = Tensor::empty(x.k.shape(), x.q.dtype(), device);
  x.dv = Tensor::empty(x.k.shape(), x.q.dtype(), device);
}

ops::AttentionMask mask_of(const Config& c) {
  ops::AttentionMask m;
  m.causality = c.causal ? ops::AttnCausality::Causal : ops::AttnCausality::Bidirectional;
  return m;
}

void forward(const Operands& x, const Config& c) {
  ops::flash_attention_forward(x.out, x.lse, x.q, x.k, x.v, int(c.nh), int(c.nkv), mask_of(c));
}

void backward(const Operands& x, const Config& c) {
  ops::flash_attention_backward(x.dq, x.dk, x.dv, x.dout, x.q, x.k, x.v, x.out, x.lse, int(c.nh), int(c.nkv),
                                mask_of(c));
}

// ---- timing -------------------------------------------------------------------------------------

std::string config_str(const Config& c) {
  return fmt::format("B={} T={} NH={} NKV={} HS={} {}", c.b, c.t, c.nh, c.nkv, c.hs,
                     c.causal ? "causal" : "bidirectional");
}

// Our time for every config and direction (progress on stderr).
std::vector<Row> measure_sweep(const Setup& s) {
  InputCache cache;
  std::vector<Row> rows;
  for (size_t i = 0; i < s.configs.size(); ++i) {
    const Config& c = s.configs[i];
    std::fprintf(stderr, "bench attention [%zu/%zu] %s\n", i + 1, s.configs.size(), config_str(c).c_str());
    Operands x = cache.get(c, s.dtype, s.device);
    allocate_outputs(x, c, s.device);
    if (s.fwd) {
      const double sec = bench::median_seconds(s.device, s.warmup, s.iters, [&] { forward(x, c); });
      rows.push_back({int(i), c, false, sec, attention_flops(c, false)});
    }
    if (s.bwd) {
      forward(x, c);
      const double sec = bench::median_seconds(s.device, s.warmup, s.iters, [&] { backward(x, c); });
      rows.push_back({int(i), c, true, sec, attention_flops(c, true)});
    }
  }
  return rows;
}

// ---- accuracy -----------------------------------------------------------------------------------

// Small problems (odd T, grouped heads) in the bench dtype against a reference from the same inputs.
std::vector<Config> accuracy_configs() {
  std::vector<Config> v;
  for (int64_t hs : {64, 128})
    for (bool causal : {true, false}) v.push_back({2, 257, 4, 2, hs, causal});
  return v;
}

// max |got - ref| and sqrt(sum (got - ref)^2 / sum ref^2); equal entries (both +inf) count as exact,
// a NaN makes both NaN (null in the JSON).
json error_of(const Tensor& got, const Tensor& ref) {
  const std::vector<float> x = got.to_vector(), y = ref.to_vector();
  double max_abs = 0, num = 0, den = 0;
  bool nan = false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == y[i]) {
      if (std::isfinite(y[i])) den += double(y[i]) * y[i];
      continue;
    }
    const double d = double(x[i]) - double(y[i]);
    nan = nan || std::isnan(d);
    max_abs = std::max(max_abs, std::abs(d));
    num += d * d;
    den += double(y[i]) * y[i];
  }
  if (nan) max_abs = NAN;  // written as null: a NaN must not hide behind std::max
  return {{"max_abs", max_abs}, {"rel_rms", std::sqrt(num / std::max(den, 1e-30))}};
}

// Runs one case in the bench dtype on the bench device and in f32 on the CPU (from the same rounded
// inputs); writes inputs and our results as raw f32 to dir. Returns the peer's manifest entry with
// our errors against the CPU f32 reference.
json accuracy_case(const Setup& s, const Config& c, int index, const fs::path& dir) {
  const Shape qs{c.b, c.t, c.nh * c.hs}, ks{c.b, c.t, c.nkv * c.hs};
  const uint64_t seed = 100 + 10 * uint64_t(index);
  Operands ours;
  ours.q = bench::random_tensor(qs, s.dtype, s.device, seed);
  ours.k = bench::random_tensor(ks, s.dtype, s.device, seed + 1);
  ours.v = bench::random_tensor(ks, s.dtype, s.device, seed + 2);
  ours.dout = bench::random_tensor(qs, s.dtype, s.device, seed + 3);
  allocate_outputs(ours, c, s.device);
  forward(ours, c);
  backward(ours, c);
  Operands ref;  // the CPU reference on the values our kernels saw (rounded to the bench dtype)
  ref.q = ours.q.to_host_f32();
  ref.k = ours.k.to_host_f32();
  ref.v = ours.v.to_host_f32();
  ref.dout = ours.dout.to_host_f32();
  allocate_outputs(ref, c, Device::Cpu);
  forward(ref, c);
  backward(ref, c);
  json files = json::object(), errors = json::object();
  const std::vector<std::pair<const char*, const Tensor*>> all = {
      {"q", &ref.q},      {"k", &ref.k},    {"v", &ref.v},    {"dout", &ref.dout}, {"out", &ours.out},
      {"lse", &ours.lse}, {"dq", &ours.dq}, {"dk", &ours.dk}, {"dv", &ours.dv}};
  for (const auto& [name, t] : all) {
    const fs::path p = dir / fmt::format("case{}_{}.f32", index, name);
    bench::write_f32(p, *t);
    files[name] = p.string();
  }
  const std::vector<std::pair<const Tensor*, const Tensor*>> pairs = {
      {&ours.out, &ref.out}, {&ours.lse, &ref.lse}, {&ours.dq, &ref.dq}, {&ours.dk, &ref.dk}, {&ours.dv, &ref.dv}};
  for (size_t i = 0; i < pairs.size(); ++i)
    errors[kAccTensors[i]] = error_of(pairs[i].first->to_host_f32(), *pairs[i].second);
  return {{"batch", c.b},     {"seq", c.t},         {"heads", c.nh},  {"kv_heads", c.nkv},
          {"head_dim", c.hs}, {"causal", c.causal}, {"files", files}, {"ours_vs_cpu_f32", errors}};
}

std::vector<json> run_accuracy(const Setup& s, const fs::path& dir) {
  std::vector<json> cases;
  const std::vector<Config> configs = accuracy_configs();
  for (size_t i = 0; i < configs.size(); ++i) {
    std::fprintf(stderr, "bench attention accuracy [%zu/%zu] %s\n", i + 1, configs.size(),
                 config_str(configs[i]).c_str());
    cases.push_back(accuracy_case(s, configs[i], int(i), dir));
  }
  return cases;
}

// ---- the peer -----------------------------------------------------------------------------------

// cases: the accuracy entries less our own errors.
json peer_request(const Setup& s, const json& cases) {
  json configs = json::array();
  for (const Config& c : s.configs)
    configs.push_back(
        {{"batch", c.b}, {"seq", c.t}, {"heads", c.nh}, {"kv_heads", c.nkv}, {"head_dim", c.hs}, {"causal", c.causal}});
  json directions = json::array();
  if (s.fwd) directions.push_back("fwd");
  if (s.bwd) directions.push_back("bwd");
  return {{"device", device_name(s.device)}, {"dtype", dtype_flag(s.dtype)}, {"warmup", s.warmup}, {"iters", s.iters},
          {"directions", directions},        {"configs", configs},           {"accuracy", cases}};
}

// The peer's seconds for row r's config and direction, per backend (null where it has none).
void attach_peer_times(std::vector<Row>& rows, const json& peer) {
  const json timing = field(peer, "timing");
  if (!timing.is_array()) return;
  for (Row& r : rows) {
    if (size_t(r.config) >= timing.size()) continue;
    const json backends = field(timing[size_t(r.config)], "backends");
    for (const char* b : kBackends) {
      const json t = field(field(backends, b), r.backward ? "bwd_s" : "fwd_s");
      r.peer[b] = t.is_number() && t.get<double>() > 0 ? t : json();
    }
  }
}

// ---- report -------------------------------------------------------------------------------------

std::string ratio_cell(const Row& r, const char* backend) {
  const json t = r.peer.value(backend, json());
  return t.is_number() ? fmt::format("{:.2f}", t.get<double>() / r.seconds) : "-";
}

void print_table(const Setup& s, const std::vector<Row>& rows, const bench::Peak& peak, const json& machine,
                 const json& peer, bool with_peer) {
  const std::string gpu = machine["gpu"].is_string() ? machine["gpu"].get<std::string>() : "";
  std::printf("temper bench attention: %s%s%s, %s, median of %d calls after %d warm-up\n", device_name(s.device),
              gpu.empty() ? "" : " ", gpu.c_str(), dtype_flag(s.dtype), s.iters, s.warmup);
  std::printf("matmul peak (%s, %lld^3): %.2f TFLOP/s\n", dtype_flag(peak.dtype), static_cast<long long>(peak.n),
              peak.tflops());
  if (with_peer && peer.contains("error"))
    std::printf("peer FAILED: %s\n", text_of(field(peer, "error")).c_str());
  else if (with_peer)
    std::printf("peer: torch %s; x BACKEND = peer time / our time (> 1: we are faster)\n",
                text_of(field(peer, "torch")).c_str());
  std::printf("%5s %6s %4s %4s %4s %6s %4s %10s %8s %6s", "B", "T", "NH", "NKV", "HS", "causal", "dir", "time_ms",
              "TFLOP/s", "%peak");
  if (with_peer)
    for (const char* b : kBackends) std::printf(" %10s", ("x " + std::string(b)).c_str());
  std::printf("\n");
  for (const Row& r : rows) {
    const double tf = r.flops / r.seconds / 1e12;
    std::printf("%5lld %6lld %4lld %4lld %4lld %6s %4s %10.3f %8.3f %6.1f", static_cast<long long>(r.c.b),
                static_cast<long long>(r.c.t), static_cast<long long>(r.c.nh), static_cast<long long>(r.c.nkv),
                static_cast<long long>(r.c.hs), r.c.causal ? "yes" : "no", r.backward ? "bwd" : "fwd", r.seconds * 1e3,
                tf, 100.0 * tf / peak.tflops());
    if (with_peer)
      for (const char* b : kBackends) std::printf(" %10s", ratio_cell(r, b).c_str());
    std::printf("\n");
  }
}

std::string err_cell(const json& e) {
  if (!e.is_object() || !e.contains("rel_rms")) return "-";
  const json& r = e["rel_rms"];
  const json& m = e["max_abs"];
  return fmt::format("{:.1e}/{:.1e}", r.is_number() ? r.get<double>() : NAN, m.is_number() ? m.get<double>() : NAN);
}

// Against the peer's fp64 reference when it gave one, else against the CPU f32 reference.
void print_accuracy(const Setup& s, const std::vector<json>& cases, const json& peer) {
  const json acc = field(peer, "accuracy");
  const bool fp64 = acc.is_array() && acc.size() == cases.size() && !cases.empty();
  std::printf(
      "\naccuracy, %s on %s: rel_rms/max_abs vs %s\n", dtype_flag(s.dtype), device_name(s.device),
      fp64 ? "the peer's fp64 reference (ours next to each SDPA backend, same dtype)" : "the CPU f32 reference");
  std::printf("%-44s %-4s %17s", "case", "", "ours");
  if (fp64)
    for (const char* b : kBackends) std::printf(" %17s", b);
  std::printf("\n");
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    const Config cfg{c["batch"].get<int64_t>(),    c["seq"].get<int64_t>(),      c["heads"].get<int64_t>(),
                     c["kv_heads"].get<int64_t>(), c["head_dim"].get<int64_t>(), c["causal"].get<bool>()};
    const std::string name = config_str(cfg);
    const json mine = fp64 ? field(acc[i], "ours") : json();
    const json sdpa = fp64 ? field(acc[i], "sdpa") : json();
    for (const char* t : kAccTensors) {
      const json ours = fp64 ? field(mine, t) : c["ours_vs_cpu_f32"][t];
      std::printf("%-44s %-4s %17s", name.c_str(), t, err_cell(ours).c_str());
      if (fp64)
        for (const char* b : kBackends) std::printf(" %17s", err_cell(field(field(sdpa, b), t)).c_str());
      std::printf("\n");
    }
  }
}

json rows_json(const std::vector<Row>& rows, const bench::Peak& peak) {
  json out = json::array();
  for (const Row& r : rows) {
    const double tf = r.flops / r.seconds / 1e12;
    json ratios = json::object(), peer_ms = json::object();
    for (const char* b : kBackends) {
      const json t = r.peer.value(b, json());
      peer_ms[b] = t.is_number() ? json(t.get<double>() * 1e3) : json();
      ratios[b] = t.is_number() ? json(t.get<double>() / r.seconds) : json();
    }
    out.push_back({{"batch", r.c.b},
                   {"seq", r.c.t},
                   {"heads", r.c.nh},
                   {"kv_heads", r.c.nkv},
                   {"head_dim", r.c.hs},
                   {"causal", r.c.causal},
                   {"direction", r.backward ? "bwd" : "fwd"},
                   {"time_ms", r.seconds * 1e3},
                   {"flops", r.flops},
                   {"tflops", tf},
                   {"pct_of_peak", 100.0 * tf / peak.tflops()},
                   {"peer_time_ms", peer_ms},
                   {"ratio_peer_over_ours", ratios}});
  }
  return out;
}

// ---- flags --------------------------------------------------------------------------------------

DType resolve_dtype(const std::string& flag, Device device) {
  if (flag == "auto") return device == Device::Cuda ? DType::BF16 : DType::F32;
  const DType dt = flag == "bf16" ? DType::BF16 : flag == "fp16" ? DType::F16 : DType::F32;
  TEMPER_INPUT_CHECK(device == Device::Cuda || dt == DType::F32, "--dtype", flag,
                     "the CPU reference runs fp32 only (use --device cuda for bf16/fp16)");
  return dt;
}

// The sweep: every (head dim, seq, mask); batch and heads default to the fixed token and width budgets.
std::vector<Config> build_configs(const BenchAttnOptions& o, Device device) {
  const bool gpu = device == Device::Cuda;
  std::vector<int64_t> seqs = o.seq, dims = o.head_dim;
  if (seqs.empty())
    seqs = gpu ? std::vector<int64_t>{512, 1024, 2048, 4096, 8192, 16384} : std::vector<int64_t>{256, 512};
  if (dims.empty()) dims = gpu ? std::vector<int64_t>{64, 128} : std::vector<int64_t>{64};
  std::vector<bool> masks;
  if (o.causal != "off") masks.push_back(true);
  if (o.causal != "on") masks.push_back(false);
  std::vector<Config> v;
  for (int64_t hs : dims)
    for (int64_t t : seqs)
      for (bool causal : masks) {
        Config c{o.batch, t, o.heads, o.kv_heads, hs, causal};
        if (c.b == 0) c.b = std::max<int64_t>(1, (gpu ? kCudaTokens : kCpuTokens) / t);
        if (c.nh == 0) c.nh = std::max<int64_t>(1, (gpu ? kCudaHidden : kCpuHidden) / hs);
        if (c.nkv == 0) c.nkv = c.nh;
        TEMPER_INPUT_CHECK(c.nkv <= c.nh && c.nh % c.nkv == 0, "--kv-heads", std::to_string(c.nkv),
                           "must divide the number of heads ({})", c.nh);
        v.push_back(c);
      }
  return v;
}

Setup resolve(const BenchAttnOptions& o) {
  Setup s;
  const bench::RunSetup run = bench::resolve_run(o.run);
  s.device = run.device, s.warmup = run.warmup, s.iters = run.iters;
  s.dtype = resolve_dtype(o.dtype, s.device);
  s.fwd = o.direction != "bwd";
  s.bwd = o.direction != "fwd";
  s.configs = build_configs(o, s.device);
  return s;
}

int run(const BenchAttnOptions& o) {
  const Setup s = resolve(o);
  const bench::RunFlags& f = o.run;
  if (!f.json.empty()) TEMPER_INPUT_CHECK(std::ofstream(f.json).good(), f.json, "--json", "cannot open for writing");
  const json machine = bench::machine_info(s.device);
  const bench::Peak peak = bench::measure_matmul_peak(s.device, s.dtype);
  std::vector<Row> rows = measure_sweep(s);
  const bench::Extras extras = bench::run_extras(
      f, s.device, "attention", [&](const fs::path& dir) { return run_accuracy(s, dir); },
      [&](const json& cases) { return peer_request(s, cases); });
  attach_peer_times(rows, extras.peer);
  print_table(s, rows, peak, machine, extras.peer, !f.peer.empty());
  if (f.accuracy) print_accuracy(s, extras.accuracy, extras.peer);
  if (f.json.empty()) return 0;
  const json doc = {{"benchmark", "attention"},
                    {"machine", machine},
                    {"device", device_name(s.device)},
                    {"dtype", dtype_flag(s.dtype)},
                    {"warmup", s.warmup},
                    {"iters", s.iters},
                    {"flops", "forward 4*B*NH*T*T*HS (half when causal), backward 2.5x forward"},
                    {"peak", peak.to_json()},
                    {"rows", rows_json(rows, peak)}};
  bench::write_result(doc, f, extras);
  return 0;
}

}  // namespace

Runner add_bench_attention(CLI::App* bench) {
  auto o = std::make_shared<BenchAttnOptions>();
  CLI::App* c = bench->add_subcommand("attention", "flash attention forward/backward TFLOP/s over a sweep");
  bench::add_device_flag(c, o->run);
  c->add_option("--dtype", o->dtype, "auto (bf16 on cuda, fp32 on cpu) | bf16 | fp16 | fp32")
      ->check(CLI::IsMember({"auto", "bf16", "fp16", "fp32"}))
      ->capture_default_str();
  c->add_option("--batch", o->batch, "sequences (0: 16k tokens / seq on cuda, 1k on cpu)")
      ->check(CLI::Range(int64_t{0}, kMaxFlagValue))
      ->capture_default_str();
  c->add_option("--heads", o->heads, "query heads (0: 2048 / head dim on cuda, 256 / head dim on cpu)")
      ->check(CLI::Range(int64_t{0}, kMaxFlagValue))
      ->capture_default_str();
  c->add_option("--kv-heads", o->kv_heads, "key/value heads (0: as many as query heads)")
      ->check(CLI::Range(int64_t{0}, kMaxFlagValue))
      ->capture_default_str();
  c->add_option("--seq", o->seq, "sequence lengths, comma-separated, K = 1024 (default cuda 512..16k, cpu 256,512)")
      ->delimiter(',')
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(int64_t{1}, kMaxFlagValue));
  c->add_option("--head-dim", o->head_dim, "head sizes, comma-separated (default cuda 64,128, cpu 64)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, kMaxFlagValue));
  c->add_option("--causal", o->causal, "on | off | both")
      ->check(CLI::IsMember({"on", "off", "both"}))
      ->capture_default_str();
  c->add_option("--direction", o->direction, "fwd | bwd | both")
      ->check(CLI::IsMember({"fwd", "bwd", "both"}))
      ->capture_default_str();
  bench::add_run_flags(
      c, o->run, "python3 bench/peer_torch_sdpa.py",
      "also check outputs and gradients on small problems (vs the peer's fp64 reference when --peer is given)");
  return [o] { return run(*o); };
}

}  // namespace temper::cli
