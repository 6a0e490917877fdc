// `temper inspect`: a checkpoint's tensors (name, dtype, shape), parameter count and config.
#include <cstdio>
#include <filesystem>

#include "launch/commands.h"
#include "models/io/json_file.h"
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

int run(const std::string& target) {
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
  c->add_option("path", *target, "model directory or .safetensors file")->required();
  return [target] { return run(*target); };
}

}  // namespace temper::cli
