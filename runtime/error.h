// Errors: every check throws temper::Error carrying the failing expression, file:line and rank;
// InputError adds the offending input file and field so `main` can print one clear line.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace temper {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Bad user input (a file, a flag): the message names the file/flag and the field.
class InputError : public Error {
 public:
  InputError(const std::string& file, const std::string& field, const std::string& msg);
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_, field_;
};

// The rank printed in error messages (set once the communicator is up; -1 = single process).
void set_error_rank(int rank);
int error_rank();

namespace detail {
[[noreturn]] void fail(const char* expr, const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace temper

// Internal invariant / API misuse: throws temper::Error with expression and location.
#define TEMPER_CHECK(cond, ...)                                                        \
  do {                                                                                 \
    if (!(cond)) ::temper::detail::fail(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)

// Bad input: throws temper::InputError naming the file (or flag) and the field.
#define TEMPER_INPUT_CHECK(cond, file, field, ...)                                  \
  do {                                                                              \
    if (!(cond)) throw ::temper::InputError((file), (field), fmt::format(__VA_ARGS__)); \
  } while (0)
