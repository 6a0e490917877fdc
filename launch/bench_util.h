// Pieces shared by the `temper bench` commands (attention, conv; comm uses median and write_json):
// seeded normal inputs, timing (CUDA events on the compute stream, clock reads on the CPU), the dense
// matmul peak, the machine description, and the peer protocol (write REQUEST.json, run
// `COMMAND REQUEST.json RESULT.json` once, read RESULT.json).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace temper::cli::bench {

// The flags every kernel benchmark has besides its own problem and dtype flags.
struct RunFlags {
  std::string device = "auto";
  int warmup = -1, iters = -1;  // -1: by device
  std::string json, peer;
  bool accuracy = false;
};
// --device (auto | cpu | cuda).
void add_device_flag(CLI::App* c, RunFlags& f);
// --warmup, --iters, --json, --peer (peer_example: a command line) and --accuracy (accuracy_help).
void add_run_flags(CLI::App* c, RunFlags& f, const std::string& peer_example, const std::string& accuracy_help);

// --device resolved, and --warmup / --iters with their per-device defaults (cuda 3 / 20, cpu 1 / 3).
struct RunSetup {
  Device device = Device::Cpu;
  int warmup = 0, iters = 1;
};
RunSetup resolve_run(const RunFlags& f);

// "bf16", "fp16" or "fp32": the names of the --dtype flags and of the peers' requests.
const char* dtype_flag(DType t);

double median(std::vector<double> v);  // the upper median

// n normal(0, 1) values from `seed` (splitmix64 + Box-Muller: fast enough for 10^8 values).
std::vector<float> normal_values(int64_t n, uint64_t seed);
// A host f32 tensor moved to `device` in dtype dt.
Tensor to_device(const Tensor& host, DType dt, Device device);
Tensor random_tensor(const Shape& s, DType dt, Device device, uint64_t seed);

// Median seconds of one call of f after `warmup` untimed calls: on CUDA each of `iters` back-to-back
// calls lies between two events recorded on the compute stream; on the CPU, between two clock reads.
double median_seconds(Device device, int warmup, int iters, const std::function<void()>& f);

// The dense matmul peak: ops::matmul n x n x n (8192 on CUDA, 1024 on the CPU).
struct Peak {
  DType dtype = DType::F32;
  int64_t n = 0;
  double seconds = 0;
  double tflops() const { return 2.0 * double(n) * double(n) * double(n) / seconds / 1e12; }
  nlohmann::json to_json() const;
};
// ops::matmul has no f16 path, so fp16 is measured as bf16 (the same tensor-core rate).
Peak measure_matmul_peak(Device device, DType dtype);

// Date, CPU model and, on CUDA, the GPU, its compute capability, driver and CUDA versions.
nlohmann::json machine_info(Device device);

// A fresh directory under the system's temp dir (name starts with prefix), removed with this object.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes doc (indented) to path; an InputError naming `flag` when it cannot.
void write_json(const std::string& path, const nlohmann::json& doc, const char* flag);
// t's values as raw little-endian f32 (any dtype, any device).
void write_f32(const std::filesystem::path& path, const Tensor& t);

// Runs `command REQUEST.json RESULT.json` once (request written to dir first; `who` names the
// benchmark in the progress line); the parsed result (a JSON object), or {"error": why}: our figures
// survive a failing peer.
nlohmann::json run_peer(const std::string& command, const nlohmann::json& request, const std::filesystem::path& dir,
                        const char* who);
// Reading a peer's result defensively (it is another program's output): j[key] when j is an object
// that has it, else null; a string's text, else "?".
nlohmann::json field(const nlohmann::json& j, const std::string& key);
std::string text_of(const nlohmann::json& j);
// Hands our cached device memory back to the driver, so that the peer process can use it.
void release_device_cache(Device device);

// What --accuracy and --peer add to a benchmark's own sweep.
struct Extras {
  std::vector<nlohmann::json> accuracy;            // the cases, each with its "files" and our errors
  nlohmann::json peer = nlohmann::json::object();  // the peer's result, or {"error": why}; {} without --peer
};
// With --accuracy, accuracy(dir) writes its cases' raw f32 files to dir and returns their entries; with
// --peer, request(cases) builds the peer's request from those entries less our own errors
// ("ours_vs_cpu_f32"), and the peer runs once on them. dir (under the temp dir, named after `who`) is
// gone on return.
Extras run_extras(const RunFlags& f, Device device, const char* who,
                  const std::function<std::vector<nlohmann::json>(const std::filesystem::path&)>& accuracy,
                  const std::function<nlohmann::json(const nlohmann::json&)>& request);
// Adds the peer command and its result and the accuracy cases (without their file names) to doc and
// writes it to --json.
void write_result(nlohmann::json doc, const RunFlags& f, const Extras& e);

}  // namespace temper::cli::bench
