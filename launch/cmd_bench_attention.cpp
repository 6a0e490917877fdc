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
#include <stdlib.h>    // mkdtemp
#include <sys/wait.h>  // WEXITSTATUS

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "kernels/elementwise.h"
#include "kernels/flash_attention.h"
#include "kernels/matmul.h"
#include "launch/commands.h"
#include "launch/common_options.h"
#include "runtime/device_memory.h"
#ifdef TEMPER_WITH_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/stream.h"
#endif

namespace temper::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kCudaTokens = 16384;  // batch x seq of the default sweep (the FlashAttention papers')
constexpr int64_t kCpuTokens = 1024;
constexpr int64_t kCudaHidden = 2048;  // default heads = hidden / head dim
constexpr int64_t kCpuHidden = 256;
constexpr int64_t kCudaPeakDim = 8192;  // the peak matmul is n x n x n
constexpr int64_t kCpuPeakDim = 1024;
constexpr int64_t kMaxFlagValue = int64_t{1} << 40;  // bound of the size flags (a clear range message)
const char* const kBackends[] = {"cudnn", "flash", "efficient", "math"};  // the peer's, in column order
const char* const kAccTensors[] = {"out", "lse", "dq", "dk", "dv"};

struct BenchAttnOptions {
  std::string device = "auto", dtype = "auto", causal = "both", direction = "both";
  int64_t batch = 0, heads = 0, kv_heads = 0;  // 0: by the sweep's rules
  std::vector<int64_t> seq, head_dim;
  int warmup = -1, iters = -1;  // -1: by device
  std::string json, peer;
  bool accuracy = false;
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

struct Peak {
  DType dtype = DType::F32;
  int64_t n = 0;
  double seconds = 0;
  double tflops() const { return 2.0 * double(n) * double(n) * double(n) / seconds / 1e12; }
};

const char* dtype_flag(DType t) { return t == DType::BF16 ? "bf16" : t == DType::F16 ? "fp16" : "fp32"; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double attention_flops(const Config& c, bool backward) {
  const double fwd = 4.0 * double(c.b) * double(c.nh) * double(c.t) * double(c.t) * double(c.hs);
  return (c.causal ? 0.5 : 1.0) * fwd * (backward ? 2.5 : 1.0);
}

// ---- inputs -------------------------------------------------------------------------------------

// n normal(0, 1) values from `seed` (splitmix64 + Box-Muller: fast enough for 10^8 values).
std::vector<float> normal_values(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; i += 2) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u1 = (double(z >> 32) + 1.0) / 4294967296.0;  // (0, 1]: log is finite
    const double u2 = double(z & 0xffffffffu) / 4294967296.0;
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
    v[size_t(i)] = float(r * std::cos(a));
    if (i + 1 < n) v[size_t(i + 1)] = float(r * std::sin(a));
  }
  return v;
}

// A host f32 tensor moved to `device` in dtype dt.
Tensor to_device(const Tensor& host, DType dt, Device device) {
  if (dt == DType::F32) return host.to(device);
  Tensor out = Tensor::empty(host.shape(), dt, device);
  ops::cast(out, host.to(device));
  return out;
}

Tensor random_tensor(const Shape& s, DType dt, Device device, uint64_t seed) {
  return to_device(Tensor::from_f32(normal_values(shape_numel(s), seed), s), dt, device);
}

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
      q_ = random_tensor({nq}, dt, device, 1);
      dout_ = random_tensor({nq}, dt, device, 4);
      nq_ = nq;
    }
    if (nkv != nkv_) {
      k_ = random_tensor({nkv}, dt, device, 2);
      v_ = random_tensor({nkv}, dt, device, 3);
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

#ifdef TEMPER_WITH_CUDA
// Seconds of each of `iters` back-to-back calls, from events recorded between them on the compute stream.
std::vector<double> cuda_call_seconds(int iters, const std::function<void()>& f) {
  std::vector<std::unique_ptr<cuda::Event>> ev;
  for (int i = 0; i <= iters; ++i) ev.push_back(std::make_unique<cuda::Event>(true));
  const cudaStream_t stream = cuda::compute_stream();
  ev[0]->record(stream);
  for (int i = 0; i < iters; ++i) {
    f();
    ev[size_t(i) + 1]->record(stream);
  }
  ev.back()->synchronize();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) t.push_back(1e-3 * ev[size_t(i) + 1]->elapsed_ms_since(*ev[size_t(i)]));
  return t;
}
#endif

// Median seconds of one call of f after `warmup` untimed calls.
double median_seconds(Device device, int warmup, int iters, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  synchronize(device);
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) return median(cuda_call_seconds(iters, f));
#endif
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

// Dense matmul peak: ops::matmul n x n x n. ops::matmul has no f16 path, so fp16 runs are compared with
// the bf16 peak (the same tensor-core rate on Ampere and Hopper).
Peak measure_peak(const Setup& s) {
  Peak p;
  p.dtype = s.dtype == DType::F16 ? DType::BF16 : s.dtype;
  p.n = s.device == Device::Cuda ? kCudaPeakDim : kCpuPeakDim;
  const Tensor a = random_tensor({p.n, p.n}, p.dtype, s.device, 11);
  const Tensor b = random_tensor({p.n, p.n}, p.dtype, s.device, 12);
  const Tensor c = Tensor::empty({p.n, p.n}, p.dtype, s.device);
  const bool gpu = s.device == Device::Cuda;
  p.seconds = median_seconds(s.device, gpu ? 3 : 1, gpu ? 10 : 3,
                             [&] { ops::matmul(c, a, ops::Trans::No, b, ops::Trans::No); });
  return p;
}

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
      const double sec = median_seconds(s.device, s.warmup, s.iters, [&] { forward(x, c); });
      rows.push_back({int(i), c, false, sec, attention_flops(c, false)});
    }
    if (s.bwd) {
      forward(x, c);
      const double sec = median_seconds(s.device, s.warmup, s.iters, [&] { backward(x, c); });
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

void write_f32(const fs::path& path, const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  TEMPER_CHECK(f.good(), "cannot write {}", path.string());
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
  ours.q = random_tensor(qs, s.dtype, s.device, seed);
  ours.k = random_tensor(ks, s.dtype, s.device, seed + 1);
  ours.v = random_tensor(ks, s.dtype, s.device, seed + 2);
  ours.dout = random_tensor(qs, s.dtype, s.device, seed + 3);
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
    write_f32(p, t->to_host_f32());
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

// A fresh directory under the system's temp dir, removed with this object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "temper_bench_attention_XXXXXX").string();
    TEMPER_CHECK(mkdtemp(tmpl.data()) != nullptr, "cannot create a temporary directory from {}", tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_json(const std::string& path, const json& doc, const char* flag) {
  std::ofstream f(path);
  TEMPER_INPUT_CHECK(f.good(), path, flag, "cannot open for writing");
  f << doc.dump(2) << "\n";
  TEMPER_INPUT_CHECK(f.good(), path, flag, "write failed");
}

json peer_request(const Setup& s, const std::vector<json>& accuracy) {
  json configs = json::array();
  for (const Config& c : s.configs)
    configs.push_back(
        {{"batch", c.b}, {"seq", c.t}, {"heads", c.nh}, {"kv_heads", c.nkv}, {"head_dim", c.hs}, {"causal", c.causal}});
  json directions = json::array();
  if (s.fwd) directions.push_back("fwd");
  if (s.bwd) directions.push_back("bwd");
  json acc = json::array();
  for (const json& a : accuracy) {
    json entry = a;
    entry.erase("ours_vs_cpu_f32");
    acc.push_back(entry);
  }
  return {{"device", device_name(s.device)}, {"dtype", dtype_flag(s.dtype)}, {"warmup", s.warmup}, {"iters", s.iters},
          {"directions", directions},        {"configs", configs},           {"accuracy", acc}};
}

// Runs `command REQUEST.json RESULT.json` once; its result, or {"error": why} (our figures survive a
// failing peer).
json run_peer(const std::string& command, const json& request, const fs::path& dir) {
  const fs::path in = dir / "peer_request.json", out = dir / "peer_result.json";
  write_json(in.string(), request, "peer request");
  const std::string cmd = command + " '" + in.string() + "' '" + out.string() + "'";
  std::fprintf(stderr, "bench attention: running the peer: %s\n", cmd.c_str());
  std::fflush(stdout);
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    return {{"error", fmt::format("`{}` failed (exit status {})", cmd, code)}};
  }
  std::ifstream f(out);
  if (!f) return {{"error", "the peer wrote no " + out.string()}};
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    return {{"error", std::string("unreadable peer result: ") + e.what()}};
  }
}

// Hands our cached device memory back to the driver, so the peer process can use it.
void release_device_cache(Device device) {
  synchronize(device);
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) cuda::release_cached();
#endif
}

// The peer's seconds for row r's config and direction, per backend (null where it has none).
void attach_peer_times(std::vector<Row>& rows, const json& peer) {
  if (!peer.contains("timing") || !peer["timing"].is_array()) return;
  const json& timing = peer["timing"];
  for (Row& r : rows) {
    if (size_t(r.config) >= timing.size()) continue;
    const json& entry_of_config = timing[size_t(r.config)];
    if (!entry_of_config.is_object()) continue;
    const json& backends = entry_of_config.value("backends", json::object());
    if (!backends.is_object()) continue;
    for (const char* b : kBackends) {
      const json entry = backends.value(b, json::object());
      const json t = entry.is_object() ? entry.value(r.backward ? "bwd_s" : "fwd_s", json()) : json();
      r.peer[b] = t.is_number() && t.get<double>() > 0 ? t : json();
    }
  }
}

// ---- report -------------------------------------------------------------------------------------

std::string shell_line(const char* command) {
  std::string out;
  if (FILE* p = popen(command, "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  const size_t first = out.find_first_not_of(" \t\n"), last = out.find_last_not_of(" \t\n");
  return first == std::string::npos ? std::string() : out.substr(first, last - first + 1);
}

json machine_info(Device device) {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  json m = {{"date", date}, {"cpu", shell_line("grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2")}};
  m["gpu"] = nullptr;
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) {
    int dev = 0, driver_api = 0, runtime = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
      m["gpu"] = prop.name;
      m["compute_capability"] = fmt::format("{}.{}", prop.major, prop.minor);
    }
    if (cudaDriverGetVersion(&driver_api) == cudaSuccess) m["cuda_driver_api"] = driver_api;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) m["cuda_runtime"] = runtime;
    m["driver"] = shell_line("nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1");
  }
#else
  (void)device;
#endif
  return m;
}

std::string ratio_cell(const Row& r, const char* backend) {
  const json t = r.peer.value(backend, json());
  return t.is_number() ? fmt::format("{:.2f}", t.get<double>() / r.seconds) : "-";
}

void print_table(const Setup& s, const std::vector<Row>& rows, const Peak& peak, const json& machine, const json& peer,
                 bool with_peer) {
  const std::string gpu = machine["gpu"].is_string() ? machine["gpu"].get<std::string>() : "";
  std::printf("temper bench attention: %s%s%s, %s, median of %d calls after %d warm-up\n", device_name(s.device),
              gpu.empty() ? "" : " ", gpu.c_str(), dtype_flag(s.dtype), s.iters, s.warmup);
  std::printf("matmul peak (%s, %lld^3): %.2f TFLOP/s\n", dtype_flag(peak.dtype), static_cast<long long>(peak.n),
              peak.tflops());
  if (with_peer && peer.contains("error"))
    std::printf("peer FAILED: %s\n", peer["error"].get<std::string>().c_str());
  else if (with_peer)
    std::printf("peer: torch %s; x BACKEND = peer time / our time (> 1: we are faster)\n",
                peer.value("torch", std::string("?")).c_str());
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
  const json& acc = peer.value("accuracy", json::array());
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
    const json none = json::object();
    const json& mine = fp64 && acc[i].is_object() ? acc[i].value("ours", none) : none;
    const json& sdpa = fp64 && acc[i].is_object() ? acc[i].value("sdpa", none) : none;
    for (const char* t : kAccTensors) {
      const json ours = fp64 ? mine.value(t, json()) : c["ours_vs_cpu_f32"][t];
      std::printf("%-44s %-4s %17s", name.c_str(), t, err_cell(ours).c_str());
      if (fp64)
        for (const char* b : kBackends) {
          const json e = sdpa.value(b, json());
          std::printf(" %17s", err_cell(e.is_object() ? e.value(t, json()) : json()).c_str());
        }
      std::printf("\n");
    }
  }
}

json rows_json(const std::vector<Row>& rows, const Peak& peak) {
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
  s.device = resolve_device(DeviceOptions{o.device, "auto"});
  s.dtype = resolve_dtype(o.dtype, s.device);
  const bool gpu = s.device == Device::Cuda;
  s.warmup = o.warmup >= 0 ? o.warmup : (gpu ? 3 : 1);
  s.iters = o.iters > 0 ? o.iters : (gpu ? 20 : 3);
  s.fwd = o.direction != "bwd";
  s.bwd = o.direction != "fwd";
  s.configs = build_configs(o, s.device);
  return s;
}

int run(const BenchAttnOptions& o) {
  const Setup s = resolve(o);
  if (!o.json.empty()) TEMPER_INPUT_CHECK(std::ofstream(o.json).good(), o.json, "--json", "cannot open for writing");
  const json machine = machine_info(s.device);
  const Peak peak = measure_peak(s);
  std::vector<Row> rows = measure_sweep(s);
  TempDir dir;
  std::vector<json> accuracy;
  if (o.accuracy) accuracy = run_accuracy(s, dir.path());
  json peer = json::object();
  if (!o.peer.empty()) {
    release_device_cache(s.device);
    peer = run_peer(o.peer, peer_request(s, accuracy), dir.path());
  }
  attach_peer_times(rows, peer);
  print_table(s, rows, peak, machine, peer, !o.peer.empty());
  if (o.accuracy) print_accuracy(s, accuracy, peer);
  if (o.json.empty()) return 0;
  json doc = {
      {"benchmark", "attention"},
      {"machine", machine},
      {"device", device_name(s.device)},
      {"dtype", dtype_flag(s.dtype)},
      {"warmup", s.warmup},
      {"iters", s.iters},
      {"flops", "forward 4*B*NH*T*T*HS (half when causal), backward 2.5x forward"},
      {"peak",
       {{"dtype", dtype_flag(peak.dtype)}, {"n", peak.n}, {"time_ms", peak.seconds * 1e3}, {"tflops", peak.tflops()}}},
      {"rows", rows_json(rows, peak)}};
  if (!o.peer.empty()) doc["peer"] = {{"command", o.peer}, {"result", peer}};
  if (o.accuracy) {
    doc["accuracy"] = accuracy;
    for (json& a : doc["accuracy"]) a.erase("files");  // the temporary directory is gone
  }
  write_json(o.json, doc, "--json");
  return 0;
}

}  // namespace

Runner add_bench_attention(CLI::App* bench) {
  auto o = std::make_shared<BenchAttnOptions>();
  CLI::App* c = bench->add_subcommand("attention", "flash attention forward/backward TFLOP/s over a sweep");
  c->add_option("--device", o->device, "auto (cuda when present) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
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
  c->add_option("--warmup", o->warmup, "untimed calls before each measurement (default cuda 3, cpu 1)")
      ->check(CLI::Range(0, 1000000));
  c->add_option("--iters", o->iters, "timed calls; the median is reported (default cuda 20, cpu 3)")
      ->check(CLI::Range(1, 1000000));
  c->add_option("--json", o->json, "also write everything as JSON to this file");
  c->add_option("--peer", o->peer,
                "peer command run as `COMMAND REQUEST.json RESULT.json`, e.g. \"python3 bench/peer_torch_sdpa.py\"");
  c->add_flag("--accuracy", o->accuracy,
              "also check outputs and gradients on small problems (vs the peer's fp64 reference when --peer is given)");
  return [o] { return run(*o); };
}

}  // namespace temper::cli
