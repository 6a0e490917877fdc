// Tokenizer interface used by data loading, training and generation. Implementations:
// BpeTokenizer (byte-level BPE from tokenizer.json or vocab.json + merges.txt).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace temper {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t vocab_size() const = 0;  // largest id + 1
  virtual int32_t eos_id() const = 0;      // end-of-text id, -1 when the vocabulary has none
};

}  // namespace temper
