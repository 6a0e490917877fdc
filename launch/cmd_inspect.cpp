// `temper inspect`: a checkpoint's tensors (name, dtype, shape), parameter count and config.
#include <cstdio>
#include <filesystem>

#include "launch/commands.h"
#include "models/io/gguf.h"
#include "models/io/json_file.h"
#include "models/llama/llama_gguf.h"
#include "models/io/safetensors.h"

namespace fs = std::filesystem;

namespace temper::cli {
namespace {

void print_config(const std::string& dir) {
  const fs::path p = fs::path(dir) / "config.json";
  if (!fs::exists(p)) return;
  const nlohmann::json j = read_json_file(p.string());
  std::printf("config: %s\n", p.string().c_str());
  for (const char* key : {"model_type", "n_layer", "n_head", "n_embd", "n_positions", "vocab_size"})
    if (j.contains(key)) std::printf("  %-12s %s\n", key, j[key].dump().c_str());
}

// A GGUF file: architecture from its metadata, then every tensor with its ggml type.
int run_gguf(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  const LlamaConfig c = llama_config_from_gguf(f);
  std::printf("gguf: %s (v%u, %s)\n", path.c_str(), static_cast<unsigned>(f.version()),
              f.metadata().get_string_or("general.name", "unnamed").c_str());
  std::printf("  architecture llama: %d layers, hidden %lld, %d heads / %d kv heads, MLP %lld, vocab %lld, "
              "context %lld, rope theta %g, %s embeddings\n",
              c.n_layer, static_cast<long long>(c.hidden), c.n_head, c.n_kv_head,
              static_cast<long long>(c.intermediate), static_cast<long long>(c.vocab_size),
              static_cast<long long>(c.max_positions), c.rope.theta, c.tie_embeddings ? "tied" : "untied");
  int64_t total = 0;
  std::map<std::string, int64_t> by_type;
  for (const std::string& name : f.names()) {
    const GgufTensorInfo& t = f.info(name);
    std::printf("  %-32s %-5s %s\n", name.c_str(), t.type_name(), shape_str(t.shape()).c_str());
    total += t.numel();
    by_type[t.type_name()] += t.numel();
  }
  std::printf("%zu tensors, %lld parameters (%.2fM)", f.names().size(), static_cast<long long>(total), total / 1e6);
  for (const auto& [type, n] : by_type) std::printf(", %s: %lld", type.c_str(), static_cast<long long>(n));
  std::printf("\n");
  return 0;
}

int run(const std::string& target) {
  if (target.size() > 5 && target.compare(target.size() - 5, 5, ".gguf") == 0) return run_gguf(target);
  std::string file = target;
  if (fs::is_directory(target)) {
    print_config(target);
    file = (fs::path(target) / "model.safetensors").string();
  }
  const SafetensorsFile f = SafetensorsFile::open(file);
  std::printf("tensors: %s\n", file.c_str());
  int64_t total = 0;
  std::map<std::string, int64_t> by_dtype;
  for (const std::string& name : f.names()) {
    const TensorInfo& t = f.info(name);
    std::printf("  %-48s %-5s %s\n", name.c_str(), t.dtype.c_str(), shape_str(t.shape).c_str());
    total += t.numel();
    by_dtype[t.dtype] += t.numel();
  }
  std::printf("%zu tensors, %lld parameters (%.2fM)", f.names().size(), static_cast<long long>(total), total / 1e6);
  for (const auto& [dt, n] : by_dtype) std::printf(", %s: %lld", dt.c_str(), static_cast<long long>(n));
  std::printf("\n");
  return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app) {
  auto target = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("inspect", "list a checkpoint's tensors, dtypes, shapes and parameter count");
  c->add_option("path", *target, "model directory, .safetensors or .gguf file")->required();
  return [target] { return run(*target); };
}

}  // namespace temper::cli
