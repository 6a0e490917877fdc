// GGUF metadata: the typed key/value pairs of a GGUF header (model hyper-parameters, tokenizer
// vocabulary and merges, chat template, ...), kept in file order with accessors that check the type.
//
// Value types (GGUF spec): u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool, string, and arrays of
// any of these, arrays nested to any depth included. Integers are kept as int64 (u64 as its bit
// pattern, checked when read back), floats as double (f32 converts exactly), strings as raw bytes.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace temper {

enum class GgufValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

// "uint32", "string", "array of string", ...
const char* gguf_value_type_name(GgufValueType t);
bool gguf_is_integer(GgufValueType t);  // u8..i64 (not bool)
bool gguf_is_float(GgufValueType t);    // f32, f64

// One metadata value. Scalars use `i` (integers, bool), `f` (floats) or `s` (string); arrays use the
// vector matching `elem`: `ints` (integers, bools), `floats`, `strings` or `arrays` (nested).
struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  GgufValueType elem = GgufValueType::U8;  // element type of an array
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  std::vector<GgufValue> arrays;

  bool is_array() const { return type == GgufValueType::Array; }
  size_t size() const;            // element count of an array, 1 for a scalar
  std::string type_name() const;  // "uint32", "array of string", ...
};

// The metadata of one file. Every accessor throws InputError(file, key, ...) when the key is absent
// or holds another type; integer accessors accept every integer width (writers differ: u32 vs i32).
class GgufMetadata {
 public:
  GgufMetadata() = default;
  explicit GgufMetadata(std::string path) : path_(std::move(path)) {}

  // Adds a pair; false when the key is already present (the caller reports the duplicate).
  bool add(std::string key, GgufValue value);

  size_t size() const { return keys_.size(); }
  const std::vector<std::string>& keys() const { return keys_; }  // in file order
  bool contains(const std::string& key) const { return values_.count(key) != 0; }
  const GgufValue& at(const std::string& key) const;

  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;   // any integer type; a u64 above INT64_MAX throws
  double get_float(const std::string& key) const;  // f32 or f64
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;   // array of any integer type
  std::vector<double> get_float_array(const std::string& key) const;  // array of f32 or f64

  // The same, with a fallback when the key is absent (a present key of another type still throws).
  std::string get_string_or(const std::string& key, const std::string& fallback) const;
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;
  bool get_bool_or(const std::string& key, bool fallback) const;

 private:
  const GgufValue& typed(const std::string& key, bool (*ok)(const GgufValue&), const char* expected) const;

  std::string path_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, GgufValue> values_;
};

}  // namespace temper
