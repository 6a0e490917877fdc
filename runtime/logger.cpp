// Logger implementation: stderr, one line per call, rank prefix in multi-rank runs.
#include "runtime/logger.h"

#include <cstdio>
#include <mutex>

namespace temper {
namespace {
int g_rank = 0;
int g_world = 1;
LogLevel g_level = LogLevel::Info;
std::mutex g_mu;
}  // namespace

void set_log_rank(int rank, int world_size) {
  g_rank = rank;
  g_world = world_size;
}
void set_log_level(LogLevel level) { g_level = level; }

void log_line(LogLevel level, bool all_ranks, const std::string& msg) {
  if (level < g_level) return;
  if (!all_ranks && g_rank != 0) return;
  static const char* kTags[] = {"debug", "info", "warn", "error"};
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_world > 1)
    std::fprintf(stderr, "[temper %s rank %d] %s\n", kTags[static_cast<int>(level)], g_rank, msg.c_str());
  else
    std::fprintf(stderr, "[temper %s] %s\n", kTags[static_cast<int>(level)], msg.c_str());
  std::fflush(stderr);
}

}  // namespace temper
