// Internal to the GGUF reader: a bounded, buffered little-endian reader over a file descriptor, used to
// walk the header (whose size is only known once parsed). Every read checks the bytes left in the
// file first, so a length or count field can never make us read past the end or allocate more than
// the file could hold. Failures are InputError(path, field, ...).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace temper {

class GgufMetadata;

// `s` for an error message: bytes outside printable ASCII as \xNN, cut to 200 characters (keys and
// tensor names come from the untrusted file).
std::string gguf_printable(const std::string& s);

// pread until `bytes` are read; false on EOF or an error (errno tells which).
bool gguf_read_exact(int fd, void* dst, size_t bytes, uint64_t offset);

class GgufByteReader {
 public:
  GgufByteReader(int fd, uint64_t file_size, const std::string& path) : fd_(fd), size_(file_size), path_(path) {}

  const std::string& path() const { return path_; }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  // Copies the next `n` bytes; InputError(path, field) when the file ends first.
  void read(void* dst, uint64_t n, const std::string& field);

  template <class T>
  T get(const std::string& field) {
    T v;
    read(&v, sizeof(T), field);
    return v;
  }
  // A GGUF string: u64 byte length, then the bytes (not NUL-terminated). The length is checked against
  // the bytes left before anything is allocated.
  std::string get_string(const std::string& field);

  // InputError unless `count` items of at least `min_item_bytes` each fit in the bytes left.
  void check_count(uint64_t count, uint64_t min_item_bytes, const std::string& field, const char* what) const;

 private:
  void fill(const std::string& field);

  int fd_;
  uint64_t size_;
  const std::string& path_;
  uint64_t pos_ = 0;
  std::vector<unsigned char> buf_;
  uint64_t buf_start_ = 0;  // file offset of buf_[0]
};

// Reads `kv_count` metadata pairs into `out` (which names `r.path()`): duplicate keys, unknown value
// types, bad bools, array lengths and nesting depth are all checked.
void read_gguf_metadata(GgufByteReader& r, uint64_t kv_count, GgufMetadata* out);

}  // namespace temper
