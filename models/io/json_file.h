// File helpers for checkpoint I/O: JSON reads that name the file and parse position on error, and
// atomic writes (write `path.tmp`, fsync, rename) so a crash never leaves a half-written file at `path`.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace temper {

// Parses a JSON file. InputError (file = path) when it cannot be opened ("file") or is not valid JSON
// (field "line L, column C").
nlohmann::json read_json_file(const std::string& path);

// nlohmann's parse error without its tag and position prefix, non-printable bytes escaped as \xNN and
// cut to a readable length (the text quotes the untrusted input).
std::string json_parse_error_text(const nlohmann::json::parse_error& e);

// A config value that must be a positive integer below 2^31 (hyper-parameters in config.json):
// `fallback` when the key is absent or null and not `required`; InputError(path, key) otherwise.
int64_t config_positive_int(const nlohmann::json& j, const std::string& path, const char* key, int64_t fallback,
                            bool required);

// Writes `j` indented by 2 with a trailing newline, atomically.
void write_json_file_atomic(const std::string& path, const nlohmann::json& j);

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Copies `src` to `dst` (atomically at `dst`). InputError naming `src` when it cannot be read.
void copy_file(const std::string& src, const std::string& dst);

// Streams a file into `path + ".tmp"`; commit() fsyncs and renames it over `path`. Destroyed without
// commit (an exception on the way), it removes the temporary file and leaves `path` untouched.
// I/O failures throw InputError(path, "file", ...).
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
};

}  // namespace temper
