// Flags shared by subcommands (device, precision) and their resolution.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "runtime/dtype.h"

namespace temper::cli {

struct DeviceOptions {
  std::string device = "auto";     // auto | cpu | cuda
  std::string precision = "auto";  // auto | fp32 | bf16
};

void add_device_options(CLI::App& cmd, DeviceOptions& opt);
// auto -> cuda when a GPU is present; fails clearly when cuda is asked for and absent.
Device resolve_device(const DeviceOptions& opt);
// auto -> bf16 on cuda (mixed precision with fp32 master weights), fp32 on cpu.
DType resolve_precision(const DeviceOptions& opt, Device device);
// Adds `--config FILE`: a TOML file whose keys are this subcommand's long flag names.
void add_config_option(CLI::App& cmd);

}  // namespace temper::cli
