// GGUF metadata: parsing of the key/value section (untrusted: every length is checked against the
// bytes left before allocating) and the typed accessors (see gguf_metadata.h).
#include "models/io/gguf_metadata.h"

#include <limits>

#include "models/io/gguf_bytes.h"
#include "runtime/error.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");
#endif

namespace temper {

namespace {

// Arrays of arrays are legal; a hostile file could nest millions deep and overflow the stack.
constexpr int kMaxArrayDepth = 16;

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::F64); }

// Bytes one value of type `t` takes at least (a string: its length; an array: type + count).
uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::Bool:
      return 1;
    case GgufValueType::U16:
    case GgufValueType::I16:
      return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
      return 4;
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
    case GgufValueType::String:
      return 8;
    case GgufValueType::Array:
      return 12;
  }
  return 1;
}

template <class T>
T load_le(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One fixed-size scalar from its bytes: integers and bools into `*i`, floats into `*f`.
void decode_scalar(GgufValueType t, const unsigned char* p, int64_t* i, double* f) {
  switch (t) {
    case GgufValueType::U8:
    case GgufValueType::Bool:
      *i = load_le<uint8_t>(p);
      break;
    case GgufValueType::I8:
      *i = load_le<int8_t>(p);
      break;
    case GgufValueType::U16:
      *i = load_le<uint16_t>(p);
      break;
    case GgufValueType::I16:
      *i = load_le<int16_t>(p);
      break;
    case GgufValueType::U32:
      *i = load_le<uint32_t>(p);
      break;
    case GgufValueType::I32:
      *i = load_le<int32_t>(p);
      break;
    case GgufValueType::U64:
      *i = static_cast<int64_t>(load_le<uint64_t>(p));
      break;  // bit pattern
    case GgufValueType::I64:
      *i = load_le<int64_t>(p);
      break;
    case GgufValueType::F32:
      *f = load_le<float>(p);
      break;
    case GgufValueType::F64:
      *f = load_le<double>(p);
      break;
    default:
      break;
  }
}

GgufValueType read_type(GgufByteReader& r, const std::string& field, const char* what) {
  const uint32_t t = r.get<uint32_t>(field);
  TEMPER_INPUT_CHECK(known_type(t), r.path(), field, "unknown {} {} (GGUF defines 0..12)", what, t);
  return static_cast<GgufValueType>(t);
}

void check_bool(GgufByteReader& r, const std::string& field, int64_t v) {
  TEMPER_INPUT_CHECK(v == 0 || v == 1, r.path(), field, "bool byte is {}, must be 0 or 1", v);
}

GgufValue read_value(GgufByteReader& r, GgufValueType type, const std::string& field, int depth);

// Array body after its element type: u64 count, then the elements. Fixed-size elements are read in one go.
void read_array(GgufByteReader& r, GgufValue* v, const std::string& field, int depth) {
  TEMPER_INPUT_CHECK(depth < kMaxArrayDepth, r.path(), field, "arrays nested deeper than {}", kMaxArrayDepth);
  v->elem = read_type(r, field, "array element type");
  const uint64_t count = r.get<uint64_t>(field);
  r.check_count(count, min_value_bytes(v->elem), field, "array length");
  const size_t n = static_cast<size_t>(count);
  if (v->elem == GgufValueType::String) {
    v->strings.reserve(n);
    for (size_t k = 0; k < n; ++k) v->strings.push_back(r.get_string(field));
  } else if (v->elem == GgufValueType::Array) {
    v->arrays.reserve(n);
    for (size_t k = 0; k < n; ++k) v->arrays.push_back(read_value(r, GgufValueType::Array, field, depth + 1));
  } else {
    const uint64_t width = min_value_bytes(v->elem);
    std::vector<unsigned char> bytes(n * width);
    r.read(bytes.data(), bytes.size(), field);
    const bool floats = gguf_is_float(v->elem);
    if (floats)
      v->floats.resize(n);
    else
      v->ints.resize(n);
    int64_t i = 0;
    double f = 0;
    for (size_t k = 0; k < n; ++k) {
      decode_scalar(v->elem, bytes.data() + k * width, &i, &f);
      if (v->elem == GgufValueType::Bool) check_bool(r, field, i);
      if (floats)
        v->floats[k] = f;
      else
        v->ints[k] = i;
    }
  }
}

GgufValue read_value(GgufByteReader& r, GgufValueType type, const std::string& field, int depth) {
  GgufValue v;
  v.type = type;
  if (type == GgufValueType::String) {
    v.s = r.get_string(field);
  } else if (type == GgufValueType::Array) {
    read_array(r, &v, field, depth);
  } else {
    unsigned char bytes[8];
    r.read(bytes, min_value_bytes(type), field);
    decode_scalar(type, bytes, &v.i, &v.f);
    if (type == GgufValueType::Bool) check_bool(r, field, v.i);
  }
  return v;
}

bool is_string(const GgufValue& v) { return v.type == GgufValueType::String; }
bool is_int(const GgufValue& v) { return gguf_is_integer(v.type); }
bool is_float(const GgufValue& v) { return gguf_is_float(v.type); }
bool is_bool(const GgufValue& v) { return v.type == GgufValueType::Bool; }
bool is_string_array(const GgufValue& v) { return v.is_array() && v.elem == GgufValueType::String; }
bool is_int_array(const GgufValue& v) { return v.is_array() && gguf_is_integer(v.elem); }
bool is_float_array(const GgufValue& v) { return v.is_array() && gguf_is_float(v.elem); }

}  // namespace

void read_gguf_metadata(GgufByteReader& r, uint64_t kv_count, GgufMetadata* out) {
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key = r.get_string(fmt::format("metadata pair {} key", k));
    const std::string field = gguf_printable(key);
    TEMPER_INPUT_CHECK(!key.empty(), r.path(), fmt::format("metadata pair {} key", k), "empty key");
    const GgufValueType type = read_type(r, field, "value type");
    GgufValue value = read_value(r, type, field, 0);
    TEMPER_INPUT_CHECK(out->add(std::move(key), std::move(value)), r.path(), field, "duplicate metadata key");
  }
}

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8:
      return "uint8";
    case GgufValueType::I8:
      return "int8";
    case GgufValueType::U16:
      return "uint16";
    case GgufValueType::I16:
      return "int16";
    case GgufValueType::U32:
      return "uint32";
    case GgufValueType::I32:
      return "int32";
    case GgufValueType::F32:
      return "float32";
    case GgufValueType::Bool:
      return "bool";
    case GgufValueType::String:
      return "string";
    case GgufValueType::Array:
      return "array";
    case GgufValueType::U64:
      return "uint64";
    case GgufValueType::I64:
      return "int64";
    case GgufValueType::F64:
      return "float64";
  }
  return "?";
}

bool gguf_is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::U16:
    case GgufValueType::I16:
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::U64:
    case GgufValueType::I64:
      return true;
    default:
      return false;
  }
}

bool gguf_is_float(GgufValueType t) { return t == GgufValueType::F32 || t == GgufValueType::F64; }

size_t GgufValue::size() const {
  if (!is_array()) return 1;
  switch (elem) {
    case GgufValueType::String:
      return strings.size();
    case GgufValueType::Array:
      return arrays.size();
    case GgufValueType::F32:
    case GgufValueType::F64:
      return floats.size();
    default:
      return ints.size();
  }
}

std::string GgufValue::type_name() const {
  if (!is_array()) return gguf_value_type_name(type);
  return std::string("array of ") + gguf_value_type_name(elem);
}

bool GgufMetadata::add(std::string key, GgufValue value) {
  if (values_.count(key)) return false;
  keys_.push_back(key);
  values_.emplace(std::move(key), std::move(value));
  return true;
}

const GgufValue& GgufMetadata::at(const std::string& key) const {
  const auto it = values_.find(key);
  TEMPER_INPUT_CHECK(it != values_.end(), path_, key, "no such metadata key");
  return it->second;
}

const GgufValue& GgufMetadata::typed(const std::string& key, bool (*ok)(const GgufValue&), const char* expected) const {
  const GgufValue& v = at(key);
  TEMPER_INPUT_CHECK(ok(v), path_, key, "is {}, expected {}", v.type_name(), expected);
  return v;
}

namespace {
// An integer stored as int64; a u64 above INT64_MAX (a negative bit pattern) does not fit.
int64_t checked_int(const std::string& path, const std::string& key, GgufValueType t, int64_t v) {
  TEMPER_INPUT_CHECK(t != GgufValueType::U64 || v >= 0, path, key, "uint64 value {} does not fit in int64",
                     static_cast<uint64_t>(v));
  return v;
}
}  // namespace

std::string GgufMetadata::get_string(const std::string& key) const { return typed(key, is_string, "a string").s; }

int64_t GgufMetadata::get_int(const std::string& key) const {
  const GgufValue& v = typed(key, is_int, "an integer");
  return checked_int(path_, key, v.type, v.i);
}

double GgufMetadata::get_float(const std::string& key) const { return typed(key, is_float, "a float").f; }

bool GgufMetadata::get_bool(const std::string& key) const { return typed(key, is_bool, "a bool").i != 0; }

std::vector<std::string> GgufMetadata::get_string_array(const std::string& key) const {
  return typed(key, is_string_array, "an array of string").strings;
}

std::vector<int64_t> GgufMetadata::get_int_array(const std::string& key) const {
  const GgufValue& v = typed(key, is_int_array, "an array of integers");
  for (const int64_t x : v.ints) checked_int(path_, key, v.elem, x);
  return v.ints;
}

std::vector<double> GgufMetadata::get_float_array(const std::string& key) const {
  return typed(key, is_float_array, "an array of floats").floats;
}

std::string GgufMetadata::get_string_or(const std::string& key, const std::string& fallback) const {
  return contains(key) ? get_string(key) : fallback;
}
int64_t GgufMetadata::get_int_or(const std::string& key, int64_t fallback) const {
  return contains(key) ? get_int(key) : fallback;
}
double GgufMetadata::get_float_or(const std::string& key, double fallback) const {
  return contains(key) ? get_float(key) : fallback;
}
bool GgufMetadata::get_bool_or(const std::string& key, bool fallback) const {
  return contains(key) ? get_bool(key) : fallback;
}

}  // namespace temper
