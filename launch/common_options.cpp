// Shared flag handling.
#include "launch/common_options.h"

#include "runtime/device_memory.h"
#include "runtime/error.h"

namespace temper::cli {

void add_device_options(CLI::App& cmd, DeviceOptions& opt) {
  cmd.add_option("--device", opt.device, "auto | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd.add_option("--precision", opt.precision, "auto (bf16 on cuda, fp32 on cpu) | fp32 | bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}))
      ->capture_default_str();
}

Device resolve_device(const DeviceOptions& opt) {
  if (opt.device == "cpu") return Device::Cpu;
  if (opt.device == "cuda") {
    TEMPER_INPUT_CHECK(cuda_available(), "--device", "cuda", "no CUDA device is available (or this build has no CUDA)");
    return Device::Cuda;
  }
  return cuda_available() ? Device::Cuda : Device::Cpu;
}

DType resolve_precision(const DeviceOptions& opt, Device device) {
  if (opt.precision == "fp32") return DType::F32;
  if (opt.precision == "bf16") {
    TEMPER_INPUT_CHECK(device == Device::Cuda, "--precision", "bf16", "bf16 compute needs --device cuda");
    return DType::BF16;
  }
  return device == Device::Cuda ? DType::BF16 : DType::F32;
}

void add_config_option(CLI::App& cmd) {
  // Expanded before parsing (launch/config_file.h); registered here for --help and validation.
  static std::string unused;
  cmd.add_option("--config", unused, "TOML config file (keys are flag names; flags on the command line win)");
}

}  // namespace temper::cli
