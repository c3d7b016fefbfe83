// ignis tokenizer: public API. Built from a Hugging Face model folder
// (tokenizer.json + tokenizer_config.json); exact against HF `tokenizers`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ignis {

// A full encoding: ids and their token type (segment) ids, as HF `Encoding`.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // same length as ids
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Loads <dir>/tokenizer.json (+ tokenizer_config.json); throws Error naming the
  // file and the unsupported component.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir);

  // add_special_tokens: apply the post-processor (e.g. BOS of TemplateProcessing).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const = 0;
  // HF Tokenizer.encode(a, pair=b): `b` null for one sequence; the post-processor's type ids
  // (BERT: 0 for A, 1 for B). `max_length` > 0 truncates the sequence so that the result,
  // special tokens included, has at most that many ids (in place of tokenizer.json's
  // "truncation"). The base version handles single sequences without type ids.
  virtual Encoding encode_full(std::string_view a, const std::string_view* b = nullptr, bool add_special_tokens = true,
                               size_t max_length = 0) const;
  virtual int32_t vocab_size() const = 0;
  virtual std::string id_to_piece(int32_t id) const = 0;        // raw vocab string
  // The bytes token `id` adds to the decoded text in the middle of a sequence: no first-token
  // rules (SentencePiece's leading-space strip) and no UTF-8 repair (a byte-level or byte-fallback
  // token may carry part of a character). nullopt for special tokens. Constrained decoding builds
  // its vocabulary from this. The base version decodes the token alone.
  virtual std::optional<std::string> token_bytes(int32_t id) const;
  virtual std::optional<int32_t> piece_to_id(std::string_view piece) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::string bos_token() const = 0;  // text form, "" if none
  virtual std::string eos_token() const = 0;
  // tokenizer_config.json's chat_template ("" if none); `name` picks from the list form.
  virtual std::string chat_template(std::string_view name = "default") const = 0;
};

// Streaming detokenizer: feed generated ids one at a time, get text that is safe to
// emit (complete UTF-8, SentencePiece leading-space rules applied). Stop-string
// hold-back is done by StopMatcher in the runtime.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tok, std::vector<int32_t> prompt_ids, bool skip_special_tokens = true);
  std::string push(int32_t id);  // returns newly completed text (may be empty)
  std::string flush();           // at end of stream: whatever is left (invalid bytes as U+FFFD)
 private:
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0, read_offset_ = 0;
  bool skip_special_;
};

}  // namespace ignis
