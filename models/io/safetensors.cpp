// safetensors reader and writer (see safetensors.h). The reader checks the header completely at open
// (types, dtypes, overflow-safe sizes, exact tiling of the data section) so that load() can trust the
// byte ranges; data is read with pread from a descriptor held open for the object's lifetime.
#include "models/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "models/io/json_file.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");
#endif

namespace temper {

using json = nlohmann::json;

struct SafetensorsFile::Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() { ::close(fd); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference library's limit
constexpr size_t kMaxJsonDepth = 64;               // a valid header nests 3 deep; stop hostile nesting
constexpr uint64_t kMaxCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Every dtype of the safetensors spec, with its size in bits (F4/F6 are packed sub-byte types).
struct FileDType {
  const char* name;
  unsigned bits;
};
constexpr FileDType kFileDTypes[] = {
    {"BOOL", 8},        {"F4", 4},          {"F6_E2M3", 6},      {"F6_E3M2", 6},      {"U8", 8},   {"I8", 8},
    {"F8_E5M2", 8},     {"F8_E4M3", 8},     {"F8_E8M0", 8},      {"F8_E4M3FNUZ", 8},  {"F8_E5M2FNUZ", 8},
    {"I16", 16},        {"U16", 16},        {"F16", 16},         {"BF16", 16},        {"I32", 32}, {"U32", 32},
    {"F32", 32},        {"C64", 64},        {"F64", 64},         {"I64", 64},         {"U64", 64},
};

unsigned file_dtype_bits(const std::string& name) {
  for (const FileDType& d : kFileDTypes)
    if (name == d.name) return d.bits;
  return 0;
}

// The dtypes load() reads.
enum class Src { F32, F16, BF16, F64, I32, I64, U8, Other };

Src source_kind(const std::string& d) {
  if (d == "F32") return Src::F32;
  if (d == "F16") return Src::F16;
  if (d == "BF16") return Src::BF16;
  if (d == "F64") return Src::F64;
  if (d == "I32") return Src::I32;
  if (d == "I64") return Src::I64;
  if (d == "U8") return Src::U8;
  return Src::Other;
}

bool is_float_source(Src s) { return s == Src::F32 || s == Src::F16 || s == Src::BF16 || s == Src::F64; }
bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

std::string tensor_field(const std::string& name, const char* part = nullptr) {
  return part ? fmt::format("tensors.{}.{}", name, part) : "tensors." + name;
}

bool read_exact(int fd, void* dst, size_t bytes, uint64_t offset) {
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

uint64_t read_header_length(const std::string& path, int fd, uint64_t file_size) {
  TEMPER_INPUT_CHECK(file_size >= 8, path, "header length",
                     "file has {} bytes, fewer than the 8-byte header length (not a safetensors file?)", file_size);
  unsigned char b[8];
  TEMPER_INPUT_CHECK(read_exact(fd, b, 8, 0), path, "file", "read failed: {}", std::strerror(errno));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  TEMPER_INPUT_CHECK(n > 0, path, "header length", "is 0: a header holds at least {{}}");
  TEMPER_INPUT_CHECK(n <= kMaxHeaderBytes, path, "header length", "{} bytes exceeds the {} byte limit", n,
                     kMaxHeaderBytes);
  TEMPER_INPUT_CHECK(n <= file_size - 8, path, "header length",
                     "{} bytes points past the end of the file ({} bytes after the length)", n, file_size - 8);
  return n;
}

// Parses the header, rejecting duplicate keys (nlohmann keeps the last one silently) and deep nesting.
json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> objects;  // keys seen in each open object
  size_t depth = 0;
  std::string top_key;  // current key of the root object, to name nested duplicates
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    using E = json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      TEMPER_INPUT_CHECK(++depth <= kMaxJsonDepth, path, "header", "JSON nested deeper than {}", kMaxJsonDepth);
      if (event == E::object_start) objects.emplace_back();
    } else if (event == E::object_end || event == E::array_end) {
      --depth;
      if (event == E::object_end) objects.pop_back();
    } else if (event == E::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (objects.size() == 1) top_key = key;
      if (!objects.back().insert(key).second) {
        const std::string field = objects.size() == 1         ? tensor_field(key)
                                  : top_key == "__metadata__" ? "__metadata__." + key
                                                              : tensor_field(top_key, key.c_str());
        throw InputError(path, field, "duplicate key in the header");
      }
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, callback);
  } catch (const json::parse_error& e) {
    const size_t at = std::min<size_t>(e.byte, text.size());
    throw InputError(path, "header", fmt::format("not valid UTF-8 JSON (at byte {} of {}): {}", at, text.size(),
                                                 json_parse_error_text(e)));
  }
  TEMPER_INPUT_CHECK(j.is_object(), path, "header", "must be a JSON object, got {}", j.type_name());
  return j;
}

// A non-negative JSON integer that fits in int64 (shape dims, offsets).
uint64_t json_count(const std::string& path, const std::string& field, const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    TEMPER_INPUT_CHECK(x <= kMaxCount, path, field, "value {} is too large", x);
    return x;
  }
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    TEMPER_INPUT_CHECK(x >= 0, path, field, "negative value {}", x);
    return static_cast<uint64_t>(x);
  }
  throw InputError(path, field,
                   fmt::format("must be a non-negative integer, got {}", v.is_number() ? v.dump() : v.type_name()));
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& header) {
  std::map<std::string, std::string> out;
  const auto it = header.find("__metadata__");
  if (it == header.end() || it->is_null()) return out;  // null is accepted by the reference library
  TEMPER_INPUT_CHECK(it->is_object(), path, "__metadata__", "must be an object of strings, got {}",
                     it->type_name());
  for (const auto& kv : it->items()) {
    TEMPER_INPUT_CHECK(kv.value().is_string(), path, "__metadata__." + kv.key(), "must be a string, got {}",
                       kv.value().type_name());
    out[kv.key()] = kv.value().get<std::string>();
  }
  return out;
}

// Shape and element count, checking each dim and the product for overflow.
int64_t parse_shape(const std::string& path, const std::string& name, const json& v, Shape* shape) {
  const std::string field = tensor_field(name, "shape");
  TEMPER_INPUT_CHECK(v.is_array(), path, field, "must be an array of integers, got {}", v.type_name());
  uint64_t numel = 1;
  for (const json& d : v) {
    const uint64_t dim = json_count(path, field, d);
    TEMPER_INPUT_CHECK(!__builtin_mul_overflow(numel, dim, &numel) && numel <= kMaxCount, path, field,
                       "element count overflows");
    shape->push_back(static_cast<int64_t>(dim));
  }
  return static_cast<int64_t>(numel);
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const json& e, uint64_t data_size) {
  TEMPER_INPUT_CHECK(e.is_object(), path, tensor_field(name),
                     "must be an object with dtype, shape and data_offsets, got {}", e.type_name());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    TEMPER_INPUT_CHECK(e.contains(key), path, tensor_field(name, key), "missing");
  TensorInfo t;
  t.name = name;
  const json& dt = e["dtype"];
  TEMPER_INPUT_CHECK(dt.is_string(), path, tensor_field(name, "dtype"), "must be a string, got {}", dt.type_name());
  t.dtype = dt.get<std::string>();
  const unsigned bits = file_dtype_bits(t.dtype);
  TEMPER_INPUT_CHECK(bits > 0, path, tensor_field(name, "dtype"), "unknown dtype \"{}\"", t.dtype);
  const uint64_t numel = static_cast<uint64_t>(parse_shape(path, name, e["shape"], &t.shape));

  const std::string field = tensor_field(name, "data_offsets");
  const json& off = e["data_offsets"];
  TEMPER_INPUT_CHECK(off.is_array() && off.size() == 2, path, field, "must be [begin, end], got {}",
                     off.is_array() ? fmt::format("{} elements", off.size()) : off.type_name());
  t.begin = json_count(path, field, off[0]);
  t.end = json_count(path, field, off[1]);
  TEMPER_INPUT_CHECK(t.begin <= t.end, path, field, "begin {} is after end {}", t.begin, t.end);
  TEMPER_INPUT_CHECK(t.end <= data_size, path, field,
                     "ends at byte {} but the data section has {} bytes (truncated file?)", t.end, data_size);
  uint64_t total_bits = 0;
  TEMPER_INPUT_CHECK(!__builtin_mul_overflow(numel, uint64_t{bits}, &total_bits), path, field,
                     "byte size of {} x {} overflows", shape_str(t.shape), t.dtype);
  TEMPER_INPUT_CHECK(total_bits % 8 == 0, path, field, "{} x {} does not end on a byte boundary",
                     shape_str(t.shape), t.dtype);
  TEMPER_INPUT_CHECK(total_bits / 8 == t.nbytes(), path, field, "holds {} bytes but {} x {} needs {}",
                     t.nbytes(), shape_str(t.shape), t.dtype, total_bits / 8);
  return t;
}

// Tensors (sorted by range) must tile [0, data_size) exactly, as the reference library requires.
void check_tiling(const std::string& path, const std::vector<TensorInfo>& tensors, uint64_t data_size) {
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : tensors) {
    TEMPER_INPUT_CHECK(t.begin >= covered, path, tensor_field(t.name, "data_offsets"),
                       "bytes [{}, {}) overlap tensor \"{}\" which ends at {}", t.begin, t.end,
                       prev ? prev->name : "", covered);
    TEMPER_INPUT_CHECK(t.begin == covered, path, tensor_field(t.name, "data_offsets"),
                       "bytes [{}, {}) before this tensor belong to no tensor (hole in the data section)", covered,
                       t.begin);
    covered = t.end;
    prev = &t;
  }
  TEMPER_INPUT_CHECK(covered == data_size, path, "data section",
                     "{} bytes after the last tensor belong to no tensor (tensors end at {} of {})",
                     data_size - covered, covered, data_size);
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TEMPER_INPUT_CHECK(fd >= 0, path, "file", "cannot open: {}", std::strerror(errno));
  f.fd_ = std::make_shared<Fd>(fd);
  struct stat st;
  TEMPER_INPUT_CHECK(::fstat(fd, &st) == 0 && S_ISREG(st.st_mode), path, "file", "cannot open: not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  const uint64_t header_len = read_header_length(path, fd, file_size);
  std::string text(header_len, '\0');
  TEMPER_INPUT_CHECK(read_exact(fd, text.data(), header_len, 8), path, "file", "read failed: {}",
                     std::strerror(errno));
  f.data_offset_ = 8 + header_len;
  const uint64_t data_size = file_size - f.data_offset_;

  const json header = parse_header(path, text);
  f.metadata_ = parse_metadata(path, header);
  for (const auto& kv : header.items())
    if (kv.key() != "__metadata__") f.tensors_.push_back(parse_entry(path, kv.key(), kv.value(), data_size));
  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  check_tiling(path, f.tensors_, data_size);
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = index_.find(name);
  TEMPER_INPUT_CHECK(it != index_.end(), path_, tensor_field(name), "no such tensor in the file");
  return tensors_[it->second];
}

namespace {

float decode_float(const unsigned char* p, Src s) {
  switch (s) {
    case Src::F32: { float f; std::memcpy(&f, p, 4); return f; }
    case Src::F16: { uint16_t h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case Src::BF16: { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
    default: { double d; std::memcpy(&d, p, 8); return static_cast<float>(d); }  // F64
  }
}

// Float bytes -> float tensor (F64 -> F16/BF16 rounds twice, via f32; ties may differ in the last bit).
void convert_floats(const unsigned char* src, Src s, size_t elem_bytes, const Tensor& out) {
  const int64_t n = out.numel();
  if (out.dtype() == DType::F32) {
    float* o = out.data<float>();
    for (int64_t i = 0; i < n; ++i) o[i] = decode_float(src + i * elem_bytes, s);
  } else {
    uint16_t* o = out.data<uint16_t>();
    const bool bf16 = out.dtype() == DType::BF16;
    for (int64_t i = 0; i < n; ++i) {
      const float f = decode_float(src + i * elem_bytes, s);
      o[i] = bf16 ? f32_to_bf16(f) : f32_to_f16(f);
    }
  }
}

}  // namespace

Tensor SafetensorsFile::load(const std::string& name, DType target) const {
  const TensorInfo& t = info(name);
  const Src s = source_kind(t.dtype);
  TEMPER_INPUT_CHECK(s != Src::Other, path_, tensor_field(name, "dtype"), "loading {} tensors is not supported",
                     t.dtype);
  TEMPER_INPUT_CHECK(is_float_source(s) == is_float(target), path_, tensor_field(name, "dtype"),
                     "cannot load a {} tensor as {} (floats load as f32/f16/bf16, integers as i32)", t.dtype,
                     dtype_name(target));
  TEMPER_INPUT_CHECK((s == Src::U8) == (target == DType::U8), path_, tensor_field(name, "dtype"),
                     "cannot load a {} tensor as {} (U8 loads as raw bytes only)", t.dtype, dtype_name(target));
  Tensor out = Tensor::empty(t.shape, target);
  if (t.nbytes() == 0) return out;
  const bool same = t.dtype == safetensors_dtype_name(target);
  std::vector<unsigned char> buf(same ? 0 : t.nbytes());
  void* dst = same ? out.raw() : buf.data();
  TEMPER_INPUT_CHECK(read_exact(fd_->fd, dst, t.nbytes(), data_offset_ + t.begin), path_, tensor_field(name),
                     "short read of bytes [{}, {}): file truncated or changed since it was opened", t.begin, t.end);
  if (same) return out;
  if (s != Src::I64) {
    convert_floats(buf.data(), s, t.nbytes() / static_cast<size_t>(t.numel()), out);
    return out;
  }
  int32_t* o = out.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v;
    std::memcpy(&v, buf.data() + i * 8, 8);
    TEMPER_INPUT_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), path_,
                       tensor_field(name), "I64 value {} at index {} does not fit in i32", v, i);
    o[i] = static_cast<int32_t>(v);
  }
  return out;
}

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
  }
  return "?";
}

namespace {

struct WriteEntry {
  const std::string& name;
  const Tensor& tensor;
  DType file_dtype;
};

// The tensor's values as `dtype` in host memory (a view when nothing needs to change).
Tensor host_as(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t.is_cuda() ? t.to(Device::Cpu) : t;
  TEMPER_CHECK(is_float(t.dtype()) && is_float(dtype), "safetensors: cannot store a {} tensor as {}",
               dtype_name(t.dtype()), dtype_name(dtype));
  const Tensor f = t.to_host_f32();
  if (dtype == DType::F32) return f;
  Tensor out = Tensor::empty(t.shape(), dtype);
  const float* src = f.data<float>();
  uint16_t* o = out.data<uint16_t>();
  for (int64_t i = 0; i < f.numel(); ++i) o[i] = dtype == DType::BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
  return out;
}

std::string build_header(const std::vector<WriteEntry>& entries, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const WriteEntry& e : entries) {
    TEMPER_CHECK(e.tensor.defined(), "save_safetensors: tensor \"{}\" is undefined", e.name);
    TEMPER_CHECK(e.name != "__metadata__" && seen.insert(e.name).second,
                 "save_safetensors: tensor name \"{}\" is reserved or repeated", e.name);
    const uint64_t bytes = static_cast<uint64_t>(e.tensor.numel()) * dtype_size(e.file_dtype);
    header[e.name] = {{"dtype", safetensors_dtype_name(e.file_dtype)},
                      {"shape", e.tensor.shape()},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the Python library pads to a multiple of 8
  return text;
}

void write_entries(const std::string& path, const std::vector<WriteEntry>& entries,
                   const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(entries, metadata);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  AtomicFile out(path);
  out.write(len, 8);
  out.write(header.data(), header.size());
  for (const WriteEntry& e : entries) {
    const Tensor host = host_as(e.tensor, e.file_dtype);  // one tensor's copy at a time
    if (host.nbytes() > 0) out.write(host.raw(), host.nbytes());
  }
  out.commit();
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors, DType dtype,
                      const std::map<std::string, std::string>& metadata) {
  TEMPER_CHECK(is_float(dtype), "save_safetensors: file dtype must be f32, f16 or bf16, not {}", dtype_name(dtype));
  std::vector<WriteEntry> entries;
  for (const auto& [name, t] : tensors)
    entries.push_back({name, t, t.defined() && t.dtype() == DType::I32 ? DType::I32 : dtype});
  write_entries(path, entries, metadata);
}

void save_safetensors_native(const std::string& path, const NamedTensors& tensors,
                             const std::map<std::string, std::string>& metadata) {
  std::vector<WriteEntry> entries;
  for (const auto& [name, t] : tensors) entries.push_back({name, t, t.dtype()});
  write_entries(path, entries, metadata);
}

}  // namespace temper
