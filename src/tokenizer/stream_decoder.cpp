// ignis tokenizer: incremental detokenization (the vLLM / TGI prefix-window scheme).
#include "tokenizer/tokenizer.h"

namespace ignis {

namespace {
// Window of already-emitted tokens re-decoded with each new token, so that
// context-dependent decoders (SentencePiece's leading-space strip, byte fallback)
// give the same text as a one-shot decode.
constexpr size_t kPrefixWindow = 5;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tok, std::vector<int32_t> prompt_ids, bool skip_special_tokens)
    : tok_(tok), ids_(std::move(prompt_ids)), skip_special_(skip_special_tokens) {
  read_offset_ = ids_.size();
  prefix_offset_ = read_offset_ > kPrefixWindow ? read_offset_ - kPrefixWindow : 0;
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  std::vector<int32_t> prefix(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  std::vector<int32_t> all(ids_.begin() + prefix_offset_, ids_.end());
  std::string prefix_text = tok_.decode(prefix, skip_special_);
  std::string new_text = tok_.decode(all, skip_special_);
  // An incomplete UTF-8 sequence decodes to a trailing U+FFFD: wait for more tokens.
  if (new_text.size() > prefix_text.size() && !ends_with(new_text, kReplacement) &&
      new_text.compare(0, prefix_text.size(), prefix_text) == 0) {
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    return new_text.substr(prefix_text.size());
  }
  return {};
}

std::string StreamDecoder::flush() {
  if (read_offset_ == ids_.size()) return {};
  std::vector<int32_t> prefix(ids_.begin() + prefix_offset_, ids_.begin() + read_offset_);
  std::vector<int32_t> all(ids_.begin() + prefix_offset_, ids_.end());
  std::string prefix_text = tok_.decode(prefix, skip_special_);
  std::string new_text = tok_.decode(all, skip_special_);
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  if (new_text.size() > prefix_text.size() && new_text.compare(0, prefix_text.size(), prefix_text) == 0)
    return new_text.substr(prefix_text.size());
  return {};
}

}  // namespace ignis
