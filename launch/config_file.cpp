// Config-file expansion using CLI11's TOML reader.
#include "launch/config_file.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "runtime/error.h"

namespace temper::cli {
namespace {

// Position of --config (or --config=FILE) and the file name; npos when absent.
size_t find_config(const std::vector<std::string>& args, std::string& file, size_t& span) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      TEMPER_INPUT_CHECK(i + 1 < args.size(), "--config", "value", "expects a file name");
      file = args[i + 1];
      span = 2;
      return i;
    }
    if (args[i].rfind("--config=", 0) == 0) {
      file = args[i].substr(9);
      span = 1;
      return i;
    }
  }
  return std::string::npos;
}

bool given(const std::vector<std::string>& args, const std::string& flag) {
  return std::any_of(args.begin(), args.end(),
                     [&](const std::string& a) { return a == flag || a.rfind(flag + "=", 0) == 0; });
}

}  // namespace

std::vector<std::string> expand_config_file(const std::vector<std::string>& args) {
  std::string file;
  size_t span = 0;
  const size_t at = find_config(args, file, span);
  if (at == std::string::npos) return args;
  std::ifstream in(file);
  TEMPER_INPUT_CHECK(in.good() && !std::filesystem::is_directory(file), file, "file", "cannot open the config file");
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const CLI::Error& e) {
    throw InputError(file, "syntax", e.what());
  }
  std::vector<std::string> out(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(at));
  for (const CLI::ConfigItem& item : items) {
    std::string key = item.name;
    std::replace(key.begin(), key.end(), '_', '-');
    TEMPER_INPUT_CHECK(item.parents.empty(), file, key, "sections are not supported; put keys at the top level");
    const std::string flag = "--" + key;
    if (given(args, flag)) continue;  // the command line wins
    TEMPER_INPUT_CHECK(item.inputs.size() == 1, file, key, "expects a single value");
    const std::string& value = item.inputs.front();
    if (value == "true" || value == "false") {  // a switch: present or absent
      if (value == "true") out.push_back(flag);
      continue;
    }
    out.push_back(flag);
    out.push_back(value);
  }
  out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(at + span), args.end());
  return out;
}

}  // namespace temper::cli
