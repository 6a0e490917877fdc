// Reading labelled classification examples from CSV / TSV / JSONL and splitting them
// deterministically (see labelled_source.h). Parsing produces raw rows with string labels and the
// physical line of each record; labels become ids in one place, after the whole file is read, so a
// map built from the data does not depend on the row order.
#include "runtime/data/labelled_source.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>

#include "runtime/data/text_source.h"
#include "runtime/error.h"

namespace temper {
namespace {

// A CSV/TSV record and the 1-based physical line where it starts.
struct Row {
  std::vector<std::string> fields;
  size_t line = 0;
};

// An example before label mapping; `where` ("line 17", "item 3") names it in errors.
struct RawExample {
  std::string text, text_b, label, where;
};

std::string line_field(size_t line) { return fmt::format("line {}", line); }

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

std::string trim(const std::string& s) {
  auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
  auto b = std::find_if(s.begin(), s.end(), not_space);
  auto e = std::find_if(s.rbegin(), s.rend(), not_space).base();
  return b < e ? std::string(b, e) : std::string();
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Up to `limit` names, quoted and comma separated, for error messages.
std::string quoted_list(const std::vector<std::string>& names, size_t limit = 20) {
  std::string out;
  size_t shown = 0;
  for (const std::string& n : names) {
    if (shown == limit) return out + ", ...";
    out += fmt::format("{}\"{}\"", shown++ ? ", " : "", n);
  }
  return out;
}

// Position in the bytes of a CSV/TSV file; `line` is the physical line at `pos`.
struct Cursor {
  const std::string& s;
  size_t pos = 0;
  size_t line = 1;
  bool done() const { return pos >= s.size(); }
  bool at_eol() const { return s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < s.size() && s[pos + 1] == '\n'); }
  void skip_eol() {
    pos += s[pos] == '\r' ? 2 : 1;
    ++line;
  }
};

// A quoted CSV field, from its opening quote to just past the closing one; "" stands for one quote.
std::string read_quoted(Cursor& c, const std::string& path) {
  const size_t open_line = c.line;
  std::string out;
  ++c.pos;
  for (;;) {
    size_t q = c.s.find('"', c.pos);
    TEMPER_INPUT_CHECK(q != std::string::npos, path, line_field(open_line),
                       "unterminated quoted field (its opening quote is on this line)");
    out.append(c.s, c.pos, q - c.pos);
    c.line += static_cast<size_t>(std::count(c.s.begin() + c.pos, c.s.begin() + q, '\n'));
    c.pos = q + 1;
    if (c.done() || c.s[c.pos] != '"') break;
    out.push_back('"');
    ++c.pos;
  }
  TEMPER_INPUT_CHECK(c.done() || c.s[c.pos] == ',' || c.at_eol(), path, line_field(c.line),
                     "unexpected character '{}' after a closing quote (quotes inside a quoted field are doubled)",
                     c.s[c.pos]);
  return out;
}

std::string read_unquoted(Cursor& c) {
  const size_t start = c.pos;
  while (!c.done() && c.s[c.pos] != ',' && !c.at_eol()) ++c.pos;
  return c.s.substr(start, c.pos - start);
}

// One RFC 4180 record; false at the end of the input.
bool read_csv_record(Cursor& c, Row& row, const std::string& path) {
  if (c.done()) return false;
  row.fields.clear();
  row.line = c.line;
  for (;;) {
    const bool quoted = !c.done() && c.s[c.pos] == '"';
    row.fields.push_back(quoted ? read_quoted(c, path) : read_unquoted(c));
    if (!c.done() && c.s[c.pos] == ',') {
      ++c.pos;
      continue;
    }
    if (!c.done()) c.skip_eol();
    return true;
  }
}

// One TSV record: a line split on tabs, no quoting.
bool read_tsv_record(Cursor& c, Row& row) {
  if (c.done()) return false;
  row.fields.clear();
  row.line = c.line;
  size_t end = c.s.find('\n', c.pos);
  if (end == std::string::npos) end = c.s.size();
  size_t stop = end > c.pos && c.s[end - 1] == '\r' ? end - 1 : end;
  for (size_t b = c.pos;;) {
    size_t tab = std::min(c.s.find('\t', b), stop);
    row.fields.push_back(c.s.substr(b, tab - b));
    if (tab == stop) break;
    b = tab + 1;
  }
  c.pos = end + 1;
  ++c.line;
  return true;
}

// Every non-blank record of a CSV/TSV file (a blank line reads as a single empty field).
std::vector<Row> read_table(const std::string& content, size_t start, LabelledFormat format, const std::string& path) {
  Cursor c{content, start};
  std::vector<Row> rows;
  Row row;
  while (format == LabelledFormat::Csv ? read_csv_record(c, row, path) : read_tsv_record(c, row)) {
    if (row.fields.size() == 1 && is_blank(row.fields[0])) continue;
    rows.push_back(row);
  }
  return rows;
}

// Index of the header column `name`; InputError when it is absent or appears twice.
size_t find_column(const std::vector<std::string>& header, const std::string& name, const std::string& path) {
  size_t found = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] != name) continue;
    TEMPER_INPUT_CHECK(found == header.size(), path, "header", "column \"{}\" appears twice", name);
    found = i;
  }
  TEMPER_INPUT_CHECK(found < header.size(), path, "header", "no column \"{}\" (the columns are: {})", name,
                     quoted_list(header));
  return found;
}

std::vector<RawExample> table_examples(const std::string& content, size_t start, LabelledFormat format,
                                       const LabelledSourceConfig& cfg, const std::string& path) {
  std::vector<Row> rows = read_table(content, start, format, path);
  TEMPER_INPUT_CHECK(!rows.empty(), path, "header", "the file is empty: expected a header row");
  const std::vector<std::string>& header = rows[0].fields;
  const size_t text = find_column(header, cfg.text_field, path), label = find_column(header, cfg.label_field, path);
  const bool pair = !cfg.text_b_field.empty();
  const size_t text_b = pair ? find_column(header, cfg.text_b_field, path) : 0;
  std::vector<RawExample> out;
  out.reserve(rows.size() - 1);
  for (size_t r = 1; r < rows.size(); ++r) {
    const Row& row = rows[r];
    TEMPER_INPUT_CHECK(row.fields.size() == header.size(), path, line_field(row.line),
                       "expected {} fields, got {} (a ragged row: the header has {})", header.size(), row.fields.size(),
                       header.size());
    out.push_back({row.fields[text], pair ? row.fields[text_b] : "", row.fields[label], line_field(row.line)});
  }
  return out;
}

std::string json_text(const nlohmann::json& obj, const std::string& key, const std::string& path,
                      const std::string& where) {
  auto it = obj.find(key);
  TEMPER_INPUT_CHECK(it != obj.end(), path, where, "missing \"{}\"", key);
  TEMPER_INPUT_CHECK(it->is_string(), path, where, "\"{}\" must be a string, got {}", key, it->type_name());
  return it->get<std::string>();
}

// A label is a string or an integer (written in decimal, so 1 and "1" are the same class).
std::string json_label(const nlohmann::json& obj, const std::string& key, const std::string& path,
                       const std::string& where) {
  auto it = obj.find(key);
  TEMPER_INPUT_CHECK(it != obj.end() && !it->is_null(), path, where, "label missing (no \"{}\")", key);
  if (it->is_string()) return it->get<std::string>();
  TEMPER_INPUT_CHECK(it->is_number_integer(), path, where, "label \"{}\" must be a string or an integer, got {}", key,
                     it->dump());
  return it->dump();
}

RawExample json_example(const nlohmann::json& obj, const LabelledSourceConfig& cfg, const std::string& path,
                        const std::string& where) {
  TEMPER_INPUT_CHECK(obj.is_object(), path, where, "expected a JSON object, got {}", obj.type_name());
  RawExample ex;
  ex.text = json_text(obj, cfg.text_field, path, where);
  if (!cfg.text_b_field.empty()) ex.text_b = json_text(obj, cfg.text_b_field, path, where);
  ex.label = json_label(obj, cfg.label_field, path, where);
  ex.where = where;
  return ex;
}

nlohmann::json parse_json(const std::string& text, const std::string& path, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, where, fmt::format("invalid JSON ({})", e.what()));
  }
}

std::vector<RawExample> jsonl_examples(const std::string& content, size_t start, const LabelledSourceConfig& cfg,
                                       const std::string& path) {
  std::vector<RawExample> out;
  for (size_t begin = start, line_no = 1; begin < content.size(); ++line_no) {
    size_t end = content.find('\n', begin);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(begin, end - begin);
    begin = end + 1;
    if (is_blank(line)) continue;
    const std::string where = line_field(line_no);
    out.push_back(json_example(parse_json(line, path, where), cfg, path, where));
  }
  return out;
}

std::vector<RawExample> json_array_examples(const std::string& content, size_t start, const LabelledSourceConfig& cfg,
                                            const std::string& path) {
  nlohmann::json all = parse_json(content.substr(start), path, "data");
  std::vector<RawExample> out;
  for (size_t i = 0; i < all.size(); ++i) out.push_back(json_example(all[i], cfg, path, fmt::format("item {}", i + 1)));
  return out;
}

// A ".json" file may be one array of objects; ".jsonl"/".ndjson" (and an explicit format) are lines.
bool is_json_array(const std::string& content, size_t start, const LabelledSourceConfig& cfg, const std::string& path) {
  if (cfg.format != LabelledFormat::Auto || lower_extension(path) != ".json") return false;
  size_t first = content.find_first_not_of(" \t\r\n", start);
  return first != std::string::npos && content[first] == '[';
}

std::vector<RawExample> json_examples(const std::string& content, size_t start, const LabelledSourceConfig& cfg,
                                      const std::string& path) {
  const bool array = is_json_array(content, start, cfg, path);
  return array ? json_array_examples(content, start, cfg, path) : jsonl_examples(content, start, cfg, path);
}

// Trims labels and rejects blank text / labels.
void check_examples(std::vector<RawExample>& raw, const LabelledSourceConfig& cfg, const std::string& path) {
  TEMPER_INPUT_CHECK(!raw.empty(), path, "data", "no examples (an empty file, or a header only)");
  for (RawExample& ex : raw) {
    TEMPER_INPUT_CHECK(!is_blank(ex.text), path, ex.where, "empty text (field \"{}\")", cfg.text_field);
    ex.label = trim(ex.label);
    TEMPER_INPUT_CHECK(!ex.label.empty(), path, ex.where, "label missing (field \"{}\" is empty)", cfg.label_field);
  }
}

std::vector<LabelledExample> assign_labels(std::vector<RawExample>& raw, LabelMap* labels, const std::string& path) {
  LabelMap local;
  LabelMap& map = labels ? *labels : local;
  if (map.empty()) {
    std::vector<std::string> names;
    names.reserve(raw.size());
    for (const RawExample& ex : raw) names.push_back(ex.label);
    map = LabelMap::from_labels(names);
  }
  std::vector<LabelledExample> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    out[i].label = map.id(raw[i].label);
    TEMPER_INPUT_CHECK(out[i].label >= 0, path, raw[i].where, "unknown label \"{}\" (the labels are: {})", raw[i].label,
                       quoted_list(map.names()));
    out[i].text = std::move(raw[i].text);
    out[i].text_b = std::move(raw[i].text_b);
  }
  return out;
}

// A plain non-negative decimal ("0", "12"; not "012", "+1", "1.0") below kMaxNumericLabel, or -1.
int32_t numeric_label(const std::string& s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return -1;
  if (!std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) return -1;
  int32_t v = std::stoi(s);
  return v < LabelMap::kMaxNumericLabel ? v : -1;
}

uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fisher-Yates over 0..n-1; `% (i + 1)` has a bias of at most n / 2^64, and is the same everywhere.
std::vector<size_t> permutation(size_t n, uint64_t seed) {
  std::vector<size_t> p(n);
  std::iota(p.begin(), p.end(), size_t{0});
  uint64_t state = seed;
  for (size_t i = n; i > 1; --i) std::swap(p[i - 1], p[splitmix64_next(state) % i]);
  return p;
}

}  // namespace

LabelMap::LabelMap(std::vector<std::string> names) : names_(std::move(names)) {
  for (size_t i = 0; i < names_.size(); ++i) {
    TEMPER_INPUT_CHECK(!names_[i].empty(), "labels", fmt::format("label {}", i), "empty label name");
    bool fresh = ids_.emplace(names_[i], static_cast<int32_t>(i)).second;
    TEMPER_INPUT_CHECK(fresh, "labels", fmt::format("label {}", i), "duplicate label name \"{}\"", names_[i]);
  }
}

LabelMap LabelMap::from_labels(const std::vector<std::string>& labels) {
  std::vector<std::string> distinct(labels);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  bool numeric = !distinct.empty() && std::all_of(distinct.begin(), distinct.end(),
                                                  [](const std::string& s) { return numeric_label(s) >= 0; });
  if (!numeric) return LabelMap(distinct);
  int32_t top = 0;
  for (const std::string& s : distinct) top = std::max(top, numeric_label(s));
  std::vector<std::string> names;
  for (int32_t i = 0; i <= top; ++i) names.push_back(std::to_string(i));
  return LabelMap(std::move(names));
}

const std::string& LabelMap::name(int32_t id) const {
  TEMPER_CHECK(id >= 0 && id < size(), "label id {} outside [0, {})", id, size());
  return names_[static_cast<size_t>(id)];
}

int32_t LabelMap::id(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

LabelledFormat resolve_labelled_format(const std::string& path, LabelledFormat format) {
  if (format != LabelledFormat::Auto) return format;
  const std::string ext = lower_extension(path);
  if (ext == ".csv") return LabelledFormat::Csv;
  if (ext == ".tsv") return LabelledFormat::Tsv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return LabelledFormat::Jsonl;
  throw InputError(path, "format",
                   "cannot tell the format from the extension (expected .csv, .tsv, .jsonl, "
                   ".ndjson or .json)");
}

std::vector<LabelledExample> parse_labelled(const std::string& path, const std::string& content,
                                            const LabelledSourceConfig& cfg, LabelMap* labels) {
  TEMPER_INPUT_CHECK(!cfg.text_field.empty() && !cfg.label_field.empty(), path, "config",
                     "the text and label field names must not be empty");
  const LabelledFormat format = resolve_labelled_format(path, cfg.format);
  const size_t start = content.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // UTF-8 BOM (Excel)
  std::vector<RawExample> raw = format == LabelledFormat::Jsonl ? json_examples(content, start, cfg, path)
                                                                : table_examples(content, start, format, cfg, path);
  check_examples(raw, cfg, path);
  return assign_labels(raw, labels, path);
}

std::vector<LabelledExample> load_labelled_file(const std::string& path, const LabelledSourceConfig& cfg,
                                                LabelMap* labels) {
  resolve_labelled_format(path, cfg.format);  // a wrong extension fails before the read
  return parse_labelled(path, read_file_bytes(path), cfg, labels);
}

LabelledSplits split_labelled(const std::vector<LabelledExample>& examples, double valid_fraction, double test_fraction,
                              uint64_t seed) {
  TEMPER_INPUT_CHECK(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction < 1, "split",
                     "fractions", "valid ({}) and test ({}) fractions must be >= 0 and sum to less than 1",
                     valid_fraction, test_fraction);
  const size_t n = examples.size();
  const auto n_test = static_cast<size_t>(std::llround(test_fraction * static_cast<double>(n)));
  const auto n_valid = std::min(n - n_test, static_cast<size_t>(std::llround(valid_fraction * static_cast<double>(n))));
  enum class Part : uint8_t { Train, Valid, Test };
  std::vector<Part> part(n, Part::Train);
  std::vector<size_t> order = permutation(n, seed);
  for (size_t k = 0; k < n_test + n_valid; ++k) part[order[k]] = k < n_test ? Part::Test : Part::Valid;
  LabelledSplits out;
  for (size_t i = 0; i < n; ++i)
    (part[i] == Part::Train ? out.train : part[i] == Part::Valid ? out.valid : out.test).push_back(examples[i]);
  return out;
}

}  // namespace temper
