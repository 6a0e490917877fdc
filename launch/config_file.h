// `--config FILE`: a TOML file whose keys are a subcommand's long flag names (`seq-len = 128`,
// `lr = 3e-4`, `model = "dir"`). The file's values are spliced into the argument list ahead of the
// command line's own flags; a flag given on the command line wins over the file.
#pragma once
#include <string>
#include <vector>

namespace temper::cli {

// args excludes argv[0]. Returns args with the config file's flags inserted (InputError naming the
// file and key for a missing/unreadable file or a malformed value).
std::vector<std::string> expand_config_file(const std::vector<std::string>& args);

}  // namespace temper::cli
