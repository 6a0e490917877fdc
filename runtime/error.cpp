// Error construction: formats location and rank into the message.
#include "runtime/error.h"

namespace temper {
namespace {
int g_error_rank = -1;
std::string rank_prefix() {
  return g_error_rank >= 0 ? fmt::format("[rank {}] ", g_error_rank) : std::string();
}
}  // namespace

void set_error_rank(int rank) { g_error_rank = rank; }
int error_rank() { return g_error_rank; }

InputError::InputError(const std::string& file, const std::string& field, const std::string& msg)
    : Error(fmt::format("{}{}: {}: {}", rank_prefix(), file, field, msg)), file_(file), field_(field) {}

namespace detail {
void fail(const char* expr, const char* file, int line, const std::string& msg) {
  throw Error(fmt::format("{}{} (check `{}` failed at {}:{})", rank_prefix(), msg, expr, file, line));
}
}  // namespace detail
}  // namespace temper
