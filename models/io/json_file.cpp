// JSON file reads and atomic file writes (see json_file.h). POSIX I/O so that fsync and rename are
// explicit: a checkpoint is either the old file or the complete new one.
#include "models/io/json_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/error.h"

namespace temper {
namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), path, "file", "cannot open: {}", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  TEMPER_INPUT_CHECK(!in.bad(), path, "file", "read failed");
  return ss.str();
}

// 1-based line and column of byte `pos` (nlohmann reports the 1-based count of bytes read).
std::string line_column(const std::string& text, size_t pos) {
  const size_t end = pos == 0 ? 0 : std::min(pos - 1, text.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("line {}, column {}", line, col);
}

}  // namespace

std::string json_parse_error_text(const nlohmann::json::parse_error& e) {
  // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ..."
  std::string what = e.what();
  const size_t colon = what.find(": ");
  if (what.rfind("[json.exception.", 0) == 0 && colon != std::string::npos) what = what.substr(colon + 2);
  constexpr size_t kMaxChars = 240;
  std::string out;
  for (const char ch : what) {
    const auto c = static_cast<unsigned char>(ch);
    out += c >= 0x20 && c < 0x7f ? std::string(1, ch) : fmt::format("\\x{:02x}", c);
    if (out.size() > kMaxChars) return out + "...";
  }
  return out;
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_whole_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, line_column(text, e.byte), "invalid JSON: " + json_parse_error_text(e));
  }
}

int64_t config_positive_int(const nlohmann::json& j, const std::string& path, const char* key, int64_t fallback,
                            bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    TEMPER_INPUT_CHECK(!required, path, key, "missing");
    return fallback;
  }
  TEMPER_INPUT_CHECK(j[key].is_number_integer() && j[key].get<int64_t>() > 0 && j[key].get<int64_t>() < (1ll << 31),
                     path, key, "must be a positive integer, got {}", j[key].dump());
  return j[key].get<int64_t>();
}

void write_json_file_atomic(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

void copy_file(const std::string& src, const std::string& dst) {
  std::ifstream in(src, std::ios::binary);
  TEMPER_INPUT_CHECK(in.good(), src, "file", "cannot open: {}", std::strerror(errno));
  AtomicFile out(dst);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    out.write(buf.data(), static_cast<size_t>(in.gcount()));
  }
  TEMPER_INPUT_CHECK(!in.bad(), src, "file", "read failed");
  out.commit();
}

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_path_(path + ".tmp") {
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TEMPER_INPUT_CHECK(fd_ >= 0, path_, "file", "cannot create {}: {}", tmp_path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {  // not committed: drop the partial file
    ::close(fd_);
    std::remove(tmp_path_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  TEMPER_CHECK(fd_ >= 0, "AtomicFile::write after commit ({})", path_);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    TEMPER_INPUT_CHECK(n > 0, path_, "file", "cannot write {}: {}", tmp_path_, std::strerror(errno));
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  TEMPER_CHECK(fd_ >= 0, "AtomicFile::commit twice ({})", path_);
  TEMPER_INPUT_CHECK(::fsync(fd_) == 0, path_, "file", "fsync {} failed: {}", tmp_path_, std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0 || std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp_path_.c_str());
    throw InputError(path_, "file", fmt::format("cannot finish writing (close/rename of {}): {}", tmp_path_, err));
  }
}

}  // namespace temper
