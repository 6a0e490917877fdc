// Quantized base-weight matmuls (QLoRA, kernels/quantized_matmul.h): for each weight type, weight
// shape [out, in] and token count N = B*T, the median time of
//   (a) dequantize alone, as GB/s of quantized bytes read + dequantized bytes written,
//   (b) quantized_matmul (dequantize into a transient buffer + matmul),
//   (c) ops::matmul with the weight already in the activation dtype,
// and the overhead ratio (b)/(c). CUDA: bf16 activations, SmolLM2-135M and 7B-like shapes; CPU: f32
// activations, smaller shapes. Prints a table and writes JSON (--json FILE).
//
// A sample times --inner back-to-back calls between two device synchronizations (launch and sync
// latency amortized); the median over --reps samples is reported. Dequantize and quantized_matmul
// rotate over enough copies of the weight (and of the dequantize output) that the working set is
// well over the GPU's L2 cache, so (a) measures HBM traffic rather than cache hits.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels/matmul.h"
#include "kernels/quantized_matmul.h"
#include "runtime/device_memory.h"

using namespace temper;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kRotateBytes = 256e6;  // working set of the rotated weights (H100 L2: 50 MB)
constexpr int64_t kMaxCopies = 64;

struct Options {
  Device device = Device::Cpu;
  DType act = DType::F32;
  std::vector<GgmlType> types;
  std::vector<std::pair<int64_t, int64_t>> shapes;  // [out, in]
  std::vector<int64_t> tokens;
  int reps = 10, inner = 10, warmup = 2;
};

struct Row {
  GgmlType type;
  int64_t out, in, n;
  double deq_s, deq_gbps, qmm_s, mm_s;
};

GgmlType parse_type(const std::string& name) {
  for (uint32_t id = 0; id < 64; ++id) {
    const GgmlTypeTraits* t = ggml_type_traits(id);
    if (t != nullptr && name == t->name) return t->type;
  }
  throw Error("unknown GGML type '" + name + "'");
}

std::pair<int64_t, int64_t> parse_shape(const std::string& s) {
  long long out = 0, in = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%lldx%lld%c", &out, &in, &tail) != 2 || out <= 0 || in <= 0)
    throw Error("shape '" + s + "': expected OUTxIN, e.g. 1536x576");
  return {out, in};
}

// Random valid blocks: random bits, with the f16 scale fields (d, m / dmin) set to small finite values.
std::vector<uint8_t> random_weight_bytes(GgmlType t, int64_t out, int64_t in, uint64_t seed) {
  const GgmlTypeTraits& tr = ggml_type_traits(t);
  std::vector<uint8_t> bytes(static_cast<size_t>(out * (in / tr.block_size) * tr.type_size));
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    const uint64_t r = rng();
    std::memcpy(&bytes[i], &r, 8);
  }
  std::vector<int> fields;
  if (t == GgmlType::Q4_0 || t == GgmlType::Q5_0 || t == GgmlType::Q8_0) fields = {0};
  if (t == GgmlType::Q4_1 || t == GgmlType::Q5_1 || t == GgmlType::Q4_K || t == GgmlType::Q5_K) fields = {0, 2};
  if (t == GgmlType::Q6_K) fields = {208};
  std::uniform_real_distribution<float> scale(1e-3f, 1e-2f);
  for (size_t b = 0; b + tr.type_size <= bytes.size(); b += tr.type_size)
    for (int off : fields) {
      const uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(&bytes[b + off], &h, 2);
    }
  if (tr.block_size == 1)  // plain types: finite values instead of random bits
    for (int64_t i = 0; i < out * in; ++i) {
      const float v = scale(rng);
      if (t == GgmlType::F32) std::memcpy(&bytes[4 * i], &v, 4);
      const uint16_t h = t == GgmlType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      if (t != GgmlType::F32) std::memcpy(&bytes[2 * i], &h, 2);
    }
  return bytes;
}

// Normal(0, 1) values in dtype dt (f32 or bf16) on device d.
Tensor random_tensor(const Shape& s, DType dt, Device d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor h = Tensor::empty(s, dt);
  for (int64_t i = 0; i < h.numel(); ++i) {
    if (dt == DType::F32) h.data<float>()[i] = n(rng);
    if (dt == DType::BF16) h.data<uint16_t>()[i] = f32_to_bf16(n(rng));
  }
  return h.to(d);
}

// Median seconds per call of f(i) (i counts calls, for rotating inputs).
double median_seconds(const Options& o, const std::function<void(int64_t)>& f) {
  int64_t call = 0;
  for (int i = 0; i < o.warmup; ++i) f(call++);
  synchronize(o.device);
  std::vector<double> t;
  for (int r = 0; r < o.reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < o.inner; ++i) f(call++);
    synchronize(o.device);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / o.inner);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// (a) and (b) for one type on one shape and token count; (c) is measured by the caller.
Row measure_type(const Options& o, GgmlType type, int64_t out, int64_t in, const Tensor& x, const Tensor& y) {
  const std::vector<uint8_t> bytes = random_weight_bytes(type, out, in, 11 + static_cast<uint64_t>(type));
  const double per_copy = static_cast<double>(bytes.size()) + static_cast<double>(out * in * dtype_size(o.act));
  const int64_t copies = std::clamp<int64_t>(static_cast<int64_t>(kRotateBytes / per_copy) + 1, 1, kMaxCopies);
  std::vector<QuantizedWeight> q;
  std::vector<Tensor> w;
  for (int64_t c = 0; c < copies; ++c) {
    q.push_back(make_quantized_weight(type, out, in, bytes, o.device));
    w.push_back(Tensor::empty({out, in}, o.act, o.device));
  }
  Row r{type, out, in, x.dim(0), 0, 0, 0, 0};
  r.deq_s = median_seconds(o, [&](int64_t i) { ops::dequantize(w[i % copies], q[i % copies]); });
  r.deq_gbps = per_copy / r.deq_s / 1e9;
  r.qmm_s = median_seconds(o, [&](int64_t i) { ops::quantized_matmul(y, x, q[i % copies]); });
  return r;
}

// All types on one shape and token count.
std::vector<Row> measure_shape(const Options& o, int64_t out, int64_t in, int64_t n) {
  const Tensor x = random_tensor({n, in}, o.act, o.device, 1);
  const Tensor w_plain = random_tensor({out, in}, o.act, o.device, 2);
  const Tensor y = Tensor::empty({n, out}, o.act, o.device);
  const double mm_s = median_seconds(o, [&](int64_t) { ops::matmul(y, x, ops::Trans::No, w_plain, ops::Trans::Yes); });
  std::vector<Row> rows;
  for (GgmlType t : o.types) {
    const GgmlTypeTraits& tr = ggml_type_traits(t);
    if (in % tr.block_size != 0) {  // e.g. Q4_K on SmolLM2's 576-wide rows (llama.cpp falls back there too)
      std::printf("%-6s %6lld %6lld %6lld   skipped: in is not a multiple of the block size %u\n", tr.name,
                  static_cast<long long>(out), static_cast<long long>(in), static_cast<long long>(n), tr.block_size);
      continue;
    }
    rows.push_back(measure_type(o, t, out, in, x, y));
    rows.back().mm_s = mm_s;
  }
  return rows;
}

void print_header() {
  std::printf("%-6s %6s %6s %6s %10s %9s %10s %10s %7s %9s %9s\n", "type", "out", "in", "N", "deq_us", "deq_GB/s",
              "qmm_ms", "mm_ms", "qmm/mm", "qmm_TF/s", "mm_TF/s");
}

double tflops(const Row& r, double s) { return 2.0 * r.n * r.out * r.in / s / 1e12; }

void print_row(const Row& r) {
  std::printf("%-6s %6lld %6lld %6lld %10.1f %9.1f %10.3f %10.3f %7.3f %9.2f %9.2f\n", ggml_type_name(r.type),
              static_cast<long long>(r.out), static_cast<long long>(r.in), static_cast<long long>(r.n), r.deq_s * 1e6,
              r.deq_gbps, r.qmm_s * 1e3, r.mm_s * 1e3, r.qmm_s / r.mm_s, tflops(r, r.qmm_s), tflops(r, r.mm_s));
  std::fflush(stdout);
}

nlohmann::json to_json(const Options& o, const std::vector<Row>& rows) {
  nlohmann::json j = {{"device", device_name(o.device)},
                      {"act_dtype", dtype_name(o.act)},
                      {"reps", o.reps},
                      {"inner", o.inner},
                      {"rows", nlohmann::json::array()}};
  for (const Row& r : rows)
    j["rows"].push_back({{"type", ggml_type_name(r.type)},
                         {"out", r.out},
                         {"in", r.in},
                         {"tokens", r.n},
                         {"dequantize_s", r.deq_s},
                         {"dequantize_gb_per_s", r.deq_gbps},
                         {"quantized_matmul_s", r.qmm_s},
                         {"matmul_s", r.mm_s},
                         {"ratio", r.qmm_s / r.mm_s},
                         {"quantized_matmul_tflops", tflops(r, r.qmm_s)},
                         {"matmul_tflops", tflops(r, r.mm_s)}});
  return j;
}

// Fills o from the flags; the defaults depend on the device. Returns an exit code, or -1 to go on.
int configure(Options& o, const std::string& device, const std::vector<std::string>& types,
              std::vector<std::string> shapes, std::vector<int64_t> tokens, int inner) {
  if (device == "cuda" && !cuda_available()) {
    std::fprintf(stderr, "bench_quantized_matmul: --device cuda, but no CUDA device is available\n");
    return 1;
  }
  o.device = device == "cuda" || (device == "auto" && cuda_available()) ? Device::Cuda : Device::Cpu;
  const bool gpu = o.device == Device::Cuda;
  o.act = gpu ? DType::BF16 : DType::F32;  // the CPU matmul is f32 only
  if (shapes.empty())
    shapes = gpu ? std::vector<std::string>{"1536x576", "576x1536", "4096x4096", "11008x4096"}
                 : std::vector<std::string>{"1536x576", "576x1536"};
  if (tokens.empty()) tokens = gpu ? std::vector<int64_t>{2048, 8192} : std::vector<int64_t>{128, 512};
  o.inner = inner > 0 ? inner : (gpu ? 10 : 1);
  for (const std::string& s : shapes) o.shapes.push_back(parse_shape(s));
  o.tokens = tokens;
  for (const std::string& t : types) {
    o.types.push_back(parse_type(t));
    if (!quantized_weight_supported(o.types.back(), o.device))
      throw Error(t + " weights cannot be kept quantized on " + device_name(o.device));
  }
  if (o.reps <= 0 || o.warmup < 0) {
    std::fprintf(stderr, "bench_quantized_matmul: --reps must be positive and --warmup not negative\n");
    return 1;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quantized-weight matmul benchmark (dequantize, quantized_matmul, plain matmul)"};
  std::string device = "auto", json_out;
  std::vector<std::string> types{"Q4_1", "Q8_0", "Q4_K"}, shapes;
  std::vector<int64_t> tokens;
  int inner = 0;
  Options o;
  app.add_option("--device", device)->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--types", types, "GGML weight types")->delimiter(',');
  app.add_option("--shapes", shapes, "weight shapes OUTxIN (default: by device)")->delimiter(',');
  app.add_option("--tokens", tokens, "token counts N = B*T (default: by device)")->delimiter(',');
  app.add_option("--reps", o.reps, "timed samples (the median is reported)");
  app.add_option("--inner", inner, "calls per sample (default: 10 on CUDA, 1 on CPU)");
  app.add_option("--warmup", o.warmup, "untimed calls before each measurement");
  app.add_option("--json", json_out, "write the results as JSON to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    if (const int rc = configure(o, device, types, shapes, tokens, inner); rc >= 0) return rc;
    std::printf("device %s, activations %s, median of %d samples x %d calls\n", device_name(o.device),
                dtype_name(o.act), o.reps, o.inner);
    print_header();
    std::vector<Row> rows;
    for (const auto& [out, in] : o.shapes)
      for (int64_t n : o.tokens)
        for (const Row& r : measure_shape(o, out, in, n)) {
          print_row(r);
          rows.push_back(r);
        }
    if (!json_out.empty()) {
      std::ofstream f(json_out);
      if (!f) throw Error("cannot open " + json_out + " for writing");
      f << to_json(o, rows).dump(1) << "\n";
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_quantized_matmul: %s\n", e.what());
    return 1;
  }
  return 0;
}
