// Bounded buffered reader of the GGUF header (see gguf_bytes.h).
#include "models/io/gguf_bytes.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "runtime/error.h"

namespace temper {

namespace {
constexpr uint64_t kBufferBytes = 1 << 20;  // a 1.7 MB SmolLM2 header takes 2 reads
}  // namespace

std::string gguf_printable(const std::string& s) {
  constexpr size_t kMaxChars = 200;
  std::string out;
  for (const char c : s) {
    if (out.size() >= kMaxChars) return out + "...";
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f)
      out += c;
    else
      out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

bool gguf_read_exact(int fd, void* dst, size_t bytes, uint64_t offset) {
  char* p = static_cast<char*>(dst);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

void GgufByteReader::fill(const std::string& field) {
  const uint64_t n = std::min(kBufferBytes, remaining());
  buf_.resize(n);
  buf_start_ = pos_;
  TEMPER_INPUT_CHECK(gguf_read_exact(fd_, buf_.data(), n, pos_), path_, field,
                     "read of {} bytes at offset {} failed: {} (file changed while reading?)", n, pos_,
                     std::strerror(errno));
}

void GgufByteReader::read(void* dst, uint64_t n, const std::string& field) {
  TEMPER_INPUT_CHECK(n <= remaining(), path_, field,
                     "needs {} bytes at offset {} but the file ends at {} (truncated file?)", n, pos_, size_);
  unsigned char* out = static_cast<unsigned char*>(dst);
  while (n > 0) {
    if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_.size()) fill(field);
    const uint64_t at = pos_ - buf_start_;
    const uint64_t take = std::min<uint64_t>(n, buf_.size() - at);
    std::memcpy(out, buf_.data() + at, take);
    out += take;
    n -= take;
    pos_ += take;
  }
}

std::string GgufByteReader::get_string(const std::string& field) {
  const uint64_t len = get<uint64_t>(field);
  TEMPER_INPUT_CHECK(len <= remaining(), path_, field,
                     "string length {} at offset {} exceeds the {} bytes left in the file (truncated file?)", len,
                     pos_ - 8, remaining());
  std::string s(len, '\0');
  read(s.data(), len, field);
  return s;
}

void GgufByteReader::check_count(uint64_t count, uint64_t min_item_bytes, const std::string& field,
                                 const char* what) const {
  TEMPER_INPUT_CHECK(count <= remaining() / min_item_bytes, path_, field,
                     "{} {} cannot fit in the {} bytes left in the file (at least {} bytes each)", what, count,
                     remaining(), min_item_bytes);
}

}  // namespace temper
