// Rank-aware logger: info lines come from rank 0 only (unless asked for every rank); warnings
// and errors from any rank carry the rank when the world is larger than one.
#pragma once
#include <fmt/format.h>

#include <string>

namespace temper {

enum class LogLevel { Debug, Info, Warn, Error };

void set_log_rank(int rank, int world_size);
void set_log_level(LogLevel level);
void log_line(LogLevel level, bool all_ranks, const std::string& msg);

template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::Info, false, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::Warn, true, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::Debug, false, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace temper
