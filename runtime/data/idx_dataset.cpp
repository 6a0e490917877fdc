// IDX reader (raw, or gzip through zlib when the build has it) and the IdxDataset built on it. See idx_dataset.h for
// the format and the checks.
#include "runtime/data/idx_dataset.h"

#ifdef TEMPER_WITH_ZLIB
#include <zlib.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runtime/error.h"

namespace temper {
namespace {

// Deflate expands at most ~1032x; a header claiming more than this per compressed byte is a lie
// (checked before allocating, so a hostile header cannot make us reserve terabytes).
constexpr uint64_t kMaxGzipRatio = 1100;
constexpr int64_t kMaxDim = int64_t{1} << 31;

// A sequential byte source over an IDX file: zlib's gzread (which also reads uncompressed files
// transparently) when the build has zlib, plain stdio otherwise (gzip files are then refused).
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
#ifdef TEMPER_WITH_ZLIB
    f_ = gzopen(path.c_str(), "rb");
#else
    f_ = std::fopen(path.c_str(), "rb");
#endif
    TEMPER_INPUT_CHECK(f_ != nullptr, path, "file", "cannot open");
  }
  ~IdxStream() {
#ifdef TEMPER_WITH_ZLIB
    gzclose(f_);
#else
    std::fclose(f_);
#endif
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Reads `bytes` bytes unless the stream ends first; returns how many were read. A corrupt gzip
  // stream (as opposed to one that merely ends early) is an InputError.
  uint64_t read(uint8_t* dst, uint64_t bytes, const char* field) {
    uint64_t done = 0;
    while (done < bytes) {
      const int64_t got = read_some(dst + done, std::min<uint64_t>(bytes - done, 1u << 30), field);
      if (got == 0) break;
      done += static_cast<uint64_t>(got);
    }
    return done;
  }

  bool compressed() const {
#ifdef TEMPER_WITH_ZLIB
    return gzdirect(f_) == 0;
#else
    return false;
#endif
  }

 private:
#ifdef TEMPER_WITH_ZLIB
  int64_t read_some(uint8_t* dst, uint64_t n, const char* field) {
    const int got = gzread(f_, dst, static_cast<unsigned>(n));
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f_, &code);
      TEMPER_INPUT_CHECK(false, path_, field, "corrupt gzip stream: {}", msg ? msg : "unknown error");
    }
    return got;
  }
  gzFile f_ = nullptr;
#else
  int64_t read_some(uint8_t* dst, uint64_t n, const char* field) {
    const size_t got = std::fread(dst, 1, n, f_);
    TEMPER_INPUT_CHECK(got == n || !std::ferror(f_), path_, field, "read error");
    return static_cast<int64_t>(got);
  }
  std::FILE* f_ = nullptr;
#endif
  std::string path_;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The header's sizes; checks each is in [1, kMaxDim].
std::vector<int64_t> read_dims(IdxStream& f, int ndims, const std::string& path) {
  std::vector<uint8_t> raw(static_cast<size_t>(ndims) * 4);
  TEMPER_INPUT_CHECK(f.read(raw.data(), raw.size(), "header") == raw.size(), path, "header",
                     "file ends inside the header ({} dimensions)", ndims);
  std::vector<int64_t> dims(ndims);
  for (int i = 0; i < ndims; ++i) {
    dims[i] = big_endian_u32(raw.data() + 4 * i);
    TEMPER_INPUT_CHECK(dims[i] >= 1 && dims[i] <= kMaxDim, path, "dimensions", "dimension {} is {}", i, dims[i]);
  }
  return dims;
}

// product(dims), checked against what the file can hold.
uint64_t payload_bytes(const std::vector<int64_t>& dims, bool gzip, uint64_t file_bytes, const std::string& path) {
  uint64_t total = 1;
  const uint64_t header = 4 + 4 * dims.size();
  const uint64_t limit = gzip ? file_bytes * kMaxGzipRatio : file_bytes - std::min(file_bytes, header);
  for (int64_t d : dims) {
    TEMPER_INPUT_CHECK(total <= limit / static_cast<uint64_t>(d), path, "size",
                       "the header's dimensions need more bytes than the {}-byte file holds", file_bytes);
    total *= static_cast<uint64_t>(d);
  }
  return total;
}

}  // namespace

IdxArray read_idx_file(const std::string& path, uint32_t expected_magic) {
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  TEMPER_INPUT_CHECK(!ec, path, "file", "cannot read: {}", ec.message());
  IdxStream f(path);
  uint8_t magic_raw[4];
  TEMPER_INPUT_CHECK(f.read(magic_raw, 4, "magic") == 4, path, "magic", "file shorter than 4 bytes");
  const uint32_t magic = big_endian_u32(magic_raw);
#ifndef TEMPER_WITH_ZLIB
  TEMPER_INPUT_CHECK(!(magic_raw[0] == 0x1f && magic_raw[1] == 0x8b), path, "file",
                     "gzip-compressed, and this build has no zlib: gunzip it first");
#endif
  TEMPER_INPUT_CHECK(magic == expected_magic, path, "magic", "0x{:08x}, expected 0x{:08x}", magic, expected_magic);
  IdxArray out;
  out.dims = read_dims(f, static_cast<int>(magic & 0xff), path);
  const bool gzip = f.compressed();
  const uint64_t bytes = payload_bytes(out.dims, gzip, file_bytes, path);
  out.data.resize(bytes);
  const uint64_t got = f.read(out.data.data(), bytes, "data");
  TEMPER_INPUT_CHECK(got == bytes, path, "data", "{} ends after {} of the {} data bytes the header gives",
                     gzip ? "gzip stream" : "file", got, bytes);
  uint8_t extra;
  TEMPER_INPUT_CHECK(f.read(&extra, 1, "data") == 0, path, "data", "longer than the {} data bytes the header gives",
                     bytes);
  return out;
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path, const IdxOptions& options) {
  IdxArray images = read_idx_file(images_path, kIdxImagesMagic);
  IdxArray labels = read_idx_file(labels_path, kIdxLabelsMagic);
  TEMPER_INPUT_CHECK(labels.dims[0] == images.dims[0], labels_path, "count", "{} labels for the {} images of {}",
                     labels.dims[0], images.dims[0], images_path);
  TEMPER_INPUT_CHECK(options.num_classes >= 0, labels_path, "num_classes", "{} < 0", options.num_classes);
  shape_ = ImageShape{images.dims[1], images.dims[2], 1};
  pixels_ = std::move(images.data);
  const uint8_t max_label = *std::max_element(labels.data.begin(), labels.data.end());
  num_classes_ = options.num_classes > 0 ? options.num_classes : max_label + 1;
  labels_.assign(labels.data.begin(), labels.data.end());
  for (size_t i = 0; i < labels_.size(); ++i) {
    TEMPER_INPUT_CHECK(labels_[i] < num_classes_, labels_path, "label", "label {} of item {} is outside [0, {})",
                       labels_[i], i, num_classes_);
  }
}

ImageBatch IdxDataset::read(const std::vector<int64_t>& indices) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t row = shape_.h * shape_.w * shape_.c;
  ImageBatch out{Tensor::empty({n, shape_.h, shape_.w, shape_.c}, DType::U8), Tensor::empty({n}, DType::I32)};
  uint8_t* px = out.images.data<uint8_t>();
  int32_t* lab = out.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = indices[i];
    TEMPER_CHECK(k >= 0 && k < size(), "index {} outside [0, {})", k, size());
    std::memcpy(px + i * row, pixels_.data() + k * row, static_cast<size_t>(row));
    lab[i] = labels_[k];
  }
  return out;
}

}  // namespace temper
