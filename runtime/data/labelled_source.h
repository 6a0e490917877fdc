// Labelled examples for text classification, read from CSV, TSV or JSONL, plus a deterministic
// train/valid/test split.
//   CSV   - RFC 4180: a header row, comma separated, fields optionally in double quotes; inside quotes
//           commas, CRLF/LF line breaks and doubled quotes ("") are data. A quote inside an unquoted
//           field is kept as a literal character (common in hand-made files).
//   TSV   - a header row, tab separated, one record per line (LF or CRLF), no quoting at all: quote
//           characters are data (as in GLUE's .tsv files), so a field can hold no tab or newline.
//   JSONL - one JSON object per line; text fields are strings, the label a string or an integer.
//           A ".json" file (format Auto) whose first non-blank character is '[' is read as one array
//           of objects instead.
// Files are untrusted: every problem is an InputError naming the file and "line N" (the physical line
// where the record starts; "item N" in a JSON array) or "header". A leading UTF-8 BOM is skipped;
// other bytes pass through unchecked.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace temper {

struct LabelledExample {
  std::string text, text_b;  // text_b: the second segment of a pair task ("" when unused)
  int32_t label = -1;        // id in the file's LabelMap
};

enum class LabelledFormat { Auto, Csv, Tsv, Jsonl };  // Auto: from the extension (see resolve)

struct LabelledSourceConfig {
  std::string text_field = "text";
  std::string text_b_field = "";  // "" = single-segment task; otherwise the column must exist
  std::string label_field = "label";
  LabelledFormat format = LabelledFormat::Auto;
};

// Class names <-> ids. A map is either empty (to be built from the data) or fixed. Built from data:
// when every label is a non-negative integer written plainly ("0", "7"; below kMaxNumericLabel) the
// ids are those integers (names "0".."max", so ids missing from the data are valid too); otherwise
// ids follow the byte-wise sorted order of the distinct names, so the same data always gives the
// same map whatever the row order.
class LabelMap {
 public:
  static constexpr int32_t kMaxNumericLabel = 1 << 16;

  LabelMap() = default;
  // A fixed map: id i = names[i]. InputError (source "labels") on an empty or duplicate name.
  explicit LabelMap(std::vector<std::string> names);
  static LabelMap from_labels(const std::vector<std::string>& labels);  // the rule above

  bool empty() const { return names_.empty(); }
  int32_t size() const { return static_cast<int32_t>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& name(int32_t id) const;  // TEMPER_CHECK on an id out of range
  int32_t id(const std::string& name) const;  // -1 when the name is unknown

 private:
  std::vector<std::string> names_;  // by id
  std::unordered_map<std::string, int32_t> ids_;
};

// ".csv" -> Csv, ".tsv" -> Tsv, ".jsonl"/".ndjson"/".json" -> Jsonl (case-insensitive); InputError
// (field "format") on any other extension when `format` is Auto.
LabelledFormat resolve_labelled_format(const std::string& path, LabelledFormat format);

// Reads every example of `path`. Labels are looked up in *labels when it is non-empty (a label not in
// it is an InputError); when it is empty it is built from this file's labels (LabelMap::from_labels)
// and stored there, so reading train with an empty map and then valid/test with the same map keeps
// their ids consistent. `labels` may be null (a map is built and dropped). Labels are trimmed of
// surrounding whitespace; text must not be blank; text_b may be empty.
std::vector<LabelledExample> load_labelled_file(const std::string& path, const LabelledSourceConfig& cfg,
                                                LabelMap* labels);

// Same, from bytes already in memory (`path` names them in errors and chooses the format).
std::vector<LabelledExample> parse_labelled(const std::string& path, const std::string& content,
                                            const LabelledSourceConfig& cfg, LabelMap* labels);

struct LabelledSplits {
  std::vector<LabelledExample> train, valid, test;
};

// Deterministic split, identical on every platform and standard library: a Fisher-Yates shuffle
// driven by splitmix64(seed) picks round(test_fraction * n) test and round(valid_fraction * n) valid
// examples; the rest are train. Each split keeps the input order. InputError (source "split") unless
// both fractions are >= 0 and they sum to less than 1.
LabelledSplits split_labelled(const std::vector<LabelledExample>& examples, double valid_fraction, double test_fraction,
                              uint64_t seed);

}  // namespace temper
