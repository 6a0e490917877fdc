// The kernel benchmarks' shared pieces (launch/bench_util.h).
#include "launch/bench_util.h"

#include <stdlib.h>    // mkdtemp
#include <sys/wait.h>  // WEXITSTATUS

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "launch/common_options.h"
#include "runtime/device_memory.h"
#include "runtime/error.h"
#ifdef TEMPER_WITH_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/stream.h"
#endif

namespace temper::cli::bench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int64_t kCudaPeakDim = 8192;
constexpr int64_t kCpuPeakDim = 1024;

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

// The trimmed output of a shell command ("" when it fails).
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

}  // namespace

void add_device_flag(CLI::App* c, RunFlags& f) {
  c->add_option("--device", f.device, "auto (cuda when present) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
}

void add_run_flags(CLI::App* c, RunFlags& f, const std::string& peer_example, const std::string& accuracy_help) {
  c->add_option("--warmup", f.warmup, "untimed calls before each measurement (default cuda 3, cpu 1)")
      ->check(CLI::Range(0, 1000000));
  c->add_option("--iters", f.iters, "timed calls; the median is reported (default cuda 20, cpu 3)")
      ->check(CLI::Range(1, 1000000));
  c->add_option("--json", f.json, "also write everything as JSON to this file");
  c->add_option("--peer", f.peer,
                "peer command run as `COMMAND REQUEST.json RESULT.json`, e.g. \"" + peer_example + "\"");
  c->add_flag("--accuracy", f.accuracy, accuracy_help);
}

RunSetup resolve_run(const RunFlags& f) {
  RunSetup r;
  r.device = resolve_device(DeviceOptions{f.device, "auto"});
  const bool gpu = r.device == Device::Cuda;
  r.warmup = f.warmup >= 0 ? f.warmup : (gpu ? 3 : 1);
  r.iters = f.iters > 0 ? f.iters : (gpu ? 20 : 3);
  return r;
}

const char* dtype_flag(DType t) { return t == DType::BF16 ? "bf16" : t == DType::F16 ? "fp16" : "fp32"; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

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

Tensor to_device(const Tensor& host, DType dt, Device device) {
  if (dt == DType::F32) return host.to(device);
  Tensor out = Tensor::empty(host.shape(), dt, device);
  ops::cast(out, host.to(device));
  return out;
}

Tensor random_tensor(const Shape& s, DType dt, Device device, uint64_t seed) {
  return to_device(Tensor::from_f32(normal_values(shape_numel(s), seed), s), dt, device);
}

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

json Peak::to_json() const {
  return {{"dtype", dtype_flag(dtype)}, {"n", n}, {"time_ms", seconds * 1e3}, {"tflops", tflops()}};
}

Peak measure_matmul_peak(Device device, DType dtype) {
  Peak p;
  p.dtype = dtype == DType::F16 ? DType::BF16 : dtype;
  p.n = device == Device::Cuda ? kCudaPeakDim : kCpuPeakDim;
  const Tensor a = random_tensor({p.n, p.n}, p.dtype, device, 11);
  const Tensor b = random_tensor({p.n, p.n}, p.dtype, device, 12);
  const Tensor c = Tensor::empty({p.n, p.n}, p.dtype, device);
  const bool gpu = device == Device::Cuda;
  p.seconds =
      median_seconds(device, gpu ? 3 : 1, gpu ? 10 : 3, [&] { ops::matmul(c, a, ops::Trans::No, b, ops::Trans::No); });
  return p;
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

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "_XXXXXX")).string();
  TEMPER_CHECK(mkdtemp(tmpl.data()) != nullptr, "cannot create a temporary directory from {}", tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_json(const std::string& path, const json& doc, const char* flag) {
  std::ofstream f(path);
  TEMPER_INPUT_CHECK(f.good(), path, flag, "cannot open for writing");
  f << doc.dump(2) << "\n";
  TEMPER_INPUT_CHECK(f.good(), path, flag, "write failed");
}

void write_f32(const fs::path& path, const Tensor& t) {
  const std::vector<float> v = t.to_host_f32().to_vector();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  TEMPER_CHECK(f.good(), "cannot write {}", path.string());
}

json run_peer(const std::string& command, const json& request, const fs::path& dir, const char* who) {
  const fs::path in = dir / "peer_request.json", out = dir / "peer_result.json";
  write_json(in.string(), request, "peer request");
  const std::string cmd = command + " '" + in.string() + "' '" + out.string() + "'";
  std::fprintf(stderr, "bench %s: running the peer: %s\n", who, cmd.c_str());
  std::fflush(stdout);
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    return {{"error", fmt::format("`{}` failed (exit status {})", cmd, code)}};
  }
  std::ifstream f(out);
  if (!f) return {{"error", "the peer wrote no " + out.string()}};
  try {
    json result = json::parse(f);
    if (result.is_object()) return result;
    return {{"error", "the peer's result " + out.string() + " is not a JSON object"}};
  } catch (const json::exception& e) {
    return {{"error", std::string("unreadable peer result: ") + e.what()}};
  }
}

json field(const json& j, const std::string& key) { return j.is_object() && j.contains(key) ? j[key] : json(); }

std::string text_of(const json& j) { return j.is_string() ? j.get<std::string>() : "?"; }

void release_device_cache(Device device) {
  synchronize(device);
#ifdef TEMPER_WITH_CUDA
  if (device == Device::Cuda) cuda::release_cached();
#endif
}

Extras run_extras(const RunFlags& f, Device device, const char* who,
                  const std::function<std::vector<json>(const fs::path&)>& accuracy,
                  const std::function<json(const json&)>& request) {
  Extras e;
  TempDir dir(std::string("temper_bench_") + who);
  if (f.accuracy) e.accuracy = accuracy(dir.path());
  if (f.peer.empty()) return e;
  json cases = json::array();
  for (const json& a : e.accuracy) {
    cases.push_back(a);
    cases.back().erase("ours_vs_cpu_f32");
  }
  release_device_cache(device);
  e.peer = run_peer(f.peer, request(cases), dir.path(), who);
  return e;
}

void write_result(json doc, const RunFlags& f, const Extras& e) {
  if (!f.peer.empty()) doc["peer"] = {{"command", f.peer}, {"result", e.peer}};
  if (f.accuracy) {
    doc["accuracy"] = e.accuracy;
    for (json& a : doc["accuracy"]) a.erase("files");  // the temporary directory is gone
  }
  write_json(f.json, doc, "--json");
}

}  // namespace temper::cli::bench
