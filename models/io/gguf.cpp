// GGUF reader (see gguf.h): the preamble, tensor infos and data-section checks, and tensor loading.
// open() validates everything the loaders rely on (types, overflow-safe sizes, aligned offsets inside the
// file, no overlaps), so load_f32/raw can trust the byte ranges; data is read with pread from a
// descriptor held open for the object's lifetime.
#include "models/io/gguf.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>

#include "models/io/gguf_bytes.h"
#include "runtime/error.h"

namespace temper {

struct GgufFile::Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() { ::close(fd); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

namespace {

constexpr uint32_t kMaxDims = 4;                // GGML_MAX_DIMS
constexpr uint64_t kMinTensorInfoBytes = 32;    // name length + n_dims + one dim + type + offset
constexpr uint64_t kMinMetadataPairBytes = 13;  // key length + value type + a 1-byte value
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr uint64_t kLoadChunkBytes = 16 << 20;  // quantized bytes dequantized per read

std::string tensor_field(const std::string& name, const char* part = nullptr) {
  const std::string base = "tensors." + gguf_printable(name);
  return part ? base + "." + part : base;
}

void read_preamble(GgufByteReader& r, uint32_t* version, uint64_t* tensor_count, uint64_t* kv_count) {
  char magic[4];
  r.read(magic, 4, "magic");
  TEMPER_INPUT_CHECK(std::memcmp(magic, "GGUF", 4) == 0, r.path(), "magic",
                     "is \"{}\", expected \"GGUF\" (not a GGUF file?)", gguf_printable(std::string(magic, 4)));
  const uint32_t v = r.get<uint32_t>("version");
  TEMPER_INPUT_CHECK(v != 0x02000000u && v != 0x03000000u, r.path(), "version",
                     "the file is big-endian; only little-endian GGUF files are supported");
  TEMPER_INPUT_CHECK(v == 2 || v == 3, r.path(), "version", "GGUF version {} is not supported (only 2 and 3)", v);
  *version = v;
  *tensor_count = r.get<uint64_t>("tensor_count");
  r.check_count(*tensor_count, kMinTensorInfoBytes, "tensor_count", "tensor count");
  *kv_count = r.get<uint64_t>("kv_count");
  r.check_count(*kv_count, kMinMetadataPairBytes, "kv_count", "metadata pair count");
}

// general.alignment: a u32 power of two (as llama.cpp requires), 32 when absent.
uint64_t read_alignment(const GgufMetadata& m, const std::string& path) {
  const char* key = "general.alignment";
  if (!m.contains(key)) return kDefaultAlignment;
  const GgufValue& v = m.at(key);
  TEMPER_INPUT_CHECK(v.type == GgufValueType::U32, path, key, "is {}, expected uint32", v.type_name());
  const uint64_t a = static_cast<uint64_t>(v.i);
  TEMPER_INPUT_CHECK(a != 0 && (a & (a - 1)) == 0, path, key, "{} is not a power of two", a);
  return a;
}

// dims (1..4, each > 0), element count without overflow.
void read_dims(GgufByteReader& r, GgufTensorInfo* t) {
  const uint32_t n_dims = r.get<uint32_t>(tensor_field(t->name, "n_dims"));
  TEMPER_INPUT_CHECK(n_dims >= 1 && n_dims <= kMaxDims, r.path(), tensor_field(t->name, "n_dims"),
                     "{} dimensions, must be 1 to {}", n_dims, kMaxDims);
  const std::string field = tensor_field(t->name, "dims");
  uint64_t numel = 1;
  for (uint32_t k = 0; k < n_dims; ++k) {
    const uint64_t d = r.get<uint64_t>(field);
    TEMPER_INPUT_CHECK(d > 0 && d <= kMaxInt64, r.path(), field, "dimension {} is {}, must be positive", k, d);
    TEMPER_INPUT_CHECK(!__builtin_mul_overflow(numel, d, &numel) && numel <= kMaxInt64, r.path(), field,
                       "element count overflows at dimension {}", k);
    t->dims.push_back(static_cast<int64_t>(d));
  }
}

// The ggml type and the byte size it implies for the dims (whole blocks along ne0).
void read_type(GgufByteReader& r, GgufTensorInfo* t) {
  const std::string field = tensor_field(t->name, "type");
  const uint32_t id = r.get<uint32_t>(field);
  const GgmlTypeTraits* traits = ggml_type_traits(id);
  TEMPER_INPUT_CHECK(traits != nullptr, r.path(), field, "unknown ggml type {}", id);
  TEMPER_INPUT_CHECK(traits->type_size != 0, r.path(), field,
                     "type {} is not supported (its block layout differs between ggml versions)", traits->name);
  t->type = traits->type;
  const uint64_t ne0 = static_cast<uint64_t>(t->dims[0]);
  TEMPER_INPUT_CHECK(ne0 % traits->block_size == 0, r.path(), tensor_field(t->name, "dims"),
                     "row length {} is not a multiple of the {} block size {}", ne0, traits->name, traits->block_size);
  const uint64_t rows = static_cast<uint64_t>(t->numel()) / ne0;
  const uint64_t row_bytes = ne0 / traits->block_size * traits->type_size;
  TEMPER_INPUT_CHECK(!__builtin_mul_overflow(row_bytes, rows, &t->nbytes), r.path(), tensor_field(t->name, "dims"),
                     "byte size of {} x {} overflows", shape_str(t->dims), traits->name);
}

GgufTensorInfo read_tensor_info(GgufByteReader& r, uint64_t index, uint64_t alignment) {
  GgufTensorInfo t;
  const std::string name_field = fmt::format("tensor info {} name", index);
  t.name = r.get_string(name_field);
  TEMPER_INPUT_CHECK(!t.name.empty(), r.path(), name_field, "empty tensor name");
  read_dims(r, &t);
  read_type(r, &t);
  const std::string field = tensor_field(t.name, "offset");
  t.offset = r.get<uint64_t>(field);
  TEMPER_INPUT_CHECK(t.offset % alignment == 0, r.path(), field, "offset {} is not a multiple of the alignment {}",
                     t.offset, alignment);
  return t;
}

// Every tensor inside the data section, none overlapping another (padding between them is allowed).
void check_data_section(const std::string& path, const std::vector<GgufTensorInfo>& tensors, uint64_t data_offset,
                        uint64_t file_size) {
  if (tensors.empty()) return;
  TEMPER_INPUT_CHECK(data_offset <= file_size, path, "data section",
                     "starts at byte {}, past the end of the file ({} bytes; truncated?)", data_offset, file_size);
  const uint64_t data_size = file_size - data_offset;
  for (const GgufTensorInfo& t : tensors)
    TEMPER_INPUT_CHECK(t.offset <= data_size && t.nbytes <= data_size - t.offset, path, tensor_field(t.name, "offset"),
                       "bytes [{}, {}) of the data section end past its {} bytes (truncated file?)", t.offset,
                       t.offset + t.nbytes, data_size);
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& prev = tensors[order[k - 1]];
    const GgufTensorInfo& t = tensors[order[k]];
    TEMPER_INPUT_CHECK(t.offset >= prev.offset + prev.nbytes, path, tensor_field(t.name, "offset"),
                       "bytes [{}, {}) overlap tensor \"{}\" at [{}, {})", t.offset, t.offset + t.nbytes,
                       gguf_printable(prev.name), prev.offset, prev.offset + prev.nbytes);
  }
}

}  // namespace

int64_t GgufTensorInfo::numel() const { return shape_numel(dims); }

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  f.metadata_ = GgufMetadata(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TEMPER_INPUT_CHECK(fd >= 0, path, "file", "cannot open: {}", std::strerror(errno));
  f.fd_ = std::make_shared<Fd>(fd);
  struct stat st;
  TEMPER_INPUT_CHECK(::fstat(fd, &st) == 0 && S_ISREG(st.st_mode), path, "file", "cannot open: not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  GgufByteReader r(fd, file_size, path);
  uint64_t tensor_count = 0, kv_count = 0;
  read_preamble(r, &f.version_, &tensor_count, &kv_count);
  read_gguf_metadata(r, kv_count, &f.metadata_);
  f.alignment_ = read_alignment(f.metadata_, path);
  r.check_count(tensor_count, kMinTensorInfoBytes, "tensor_count", "tensor count");
  f.tensors_.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t = read_tensor_info(r, i, f.alignment_);
    TEMPER_INPUT_CHECK(f.index_.emplace(t.name, f.tensors_.size()).second, path, tensor_field(t.name),
                       "duplicate tensor name");
    f.tensors_.push_back(std::move(t));
  }
  // The data section starts at the end of the header rounded up to the alignment.
  f.data_offset_ = (r.pos() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  check_data_section(path, f.tensors_, f.data_offset_, file_size);
  return f;
}

std::vector<std::string> GgufFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const GgufTensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

const GgufTensorInfo& GgufFile::info(const std::string& name) const {
  const auto it = index_.find(name);
  TEMPER_INPUT_CHECK(it != index_.end(), path_, tensor_field(name), "no such tensor in the file");
  return tensors_[it->second];
}

void GgufFile::read_bytes(const GgufTensorInfo& t, void* dst) const {
  TEMPER_INPUT_CHECK(gguf_read_exact(fd_->fd, dst, t.nbytes, data_offset_ + t.offset), path_, tensor_field(t.name),
                     "short read of data bytes [{}, {}): file truncated or changed since it was opened", t.offset,
                     t.offset + t.nbytes);
}

std::vector<uint8_t> GgufFile::raw(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  std::vector<uint8_t> out(t.nbytes);
  read_bytes(t, out.data());
  return out;
}

Tensor GgufFile::load_f32(const std::string& name) const {
  const GgufTensorInfo& t = info(name);
  const GgmlTypeTraits& traits = ggml_type_traits(t.type);
  TEMPER_INPUT_CHECK(traits.dequantizable, path_, tensor_field(name, "type"),
                     "loading {} tensors is not supported (dequantized: F32 F16 BF16 F64 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 "
                     "Q2_K Q3_K Q4_K Q5_K Q6_K)",
                     traits.name);
  Tensor out = Tensor::empty(t.shape(), DType::F32);
  if (t.type == GgmlType::F32) {
    read_bytes(t, out.raw());
    return out;
  }
  // Dequantize in chunks of whole blocks so the quantized copy stays small.
  const uint64_t chunk_blocks = std::max<uint64_t>(1, kLoadChunkBytes / traits.type_size);
  const uint64_t total_blocks = t.nbytes / traits.type_size;
  std::vector<uint8_t> buf(std::min(total_blocks, chunk_blocks) * traits.type_size);
  float* dst = out.data<float>();
  for (uint64_t b = 0; b < total_blocks; b += chunk_blocks) {
    const uint64_t n = std::min(chunk_blocks, total_blocks - b);
    const uint64_t at = t.offset + b * traits.type_size;
    TEMPER_INPUT_CHECK(gguf_read_exact(fd_->fd, buf.data(), n * traits.type_size, data_offset_ + at), path_,
                       tensor_field(name), "short read at data byte {}: file truncated or changed since it was opened",
                       at);
    dequantize_row(t.type, buf.data(), static_cast<int64_t>(n * traits.block_size), dst + b * traits.block_size);
  }
  return out;
}

}  // namespace temper
