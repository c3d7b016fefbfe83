#include "tokenizer/wordpiece.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

WordPieceModel::WordPieceModel(const nlohmann::json& m, const std::string& file) : file_(file) {
  IGNIS_CHECK(m.contains("vocab") && m["vocab"].is_object(), "{}: model.vocab must be an object (WordPiece)", file);
  int32_t max_id = -1;
  vocab_.reserve(m["vocab"].size());
  for (auto& [tok, idj] : m["vocab"].items()) {
    IGNIS_CHECK(idj.is_number_integer(), "{}: model.vocab['{}'] is not an integer id", file, tok);
    int64_t id = idj.get<int64_t>();
    IGNIS_CHECK(id >= 0 && id < (1 << 30), "{}: model.vocab['{}'] has out-of-range id {}", file, tok, id);
    vocab_.emplace(tok, static_cast<int32_t>(id));
    max_id = std::max<int32_t>(max_id, static_cast<int32_t>(id));
  }
  id_to_tok_.resize(max_id + 1);
  for (auto& [tok, id] : vocab_) id_to_tok_[id] = tok;
  if (m.contains("continuing_subword_prefix") && m["continuing_subword_prefix"].is_string())
    prefix_ = m["continuing_subword_prefix"].get<std::string>();
  unk_ = m.contains("unk_token") && m["unk_token"].is_string() ? m["unk_token"].get<std::string>() : "[UNK]";
  if (m.contains("max_input_chars_per_word") && !m["max_input_chars_per_word"].is_null()) {
    IGNIS_CHECK(m["max_input_chars_per_word"].is_number_integer() && m["max_input_chars_per_word"].get<int64_t>() >= 0,
                "{}: model.max_input_chars_per_word must be a non-negative integer", file);
    max_chars_ = m["max_input_chars_per_word"].get<size_t>();
  }
}

std::optional<int32_t> WordPieceModel::token_to_id(std::string_view tok) const {
  auto it = vocab_.find(tok);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* WordPieceModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(id_to_tok_.size()) || id_to_tok_[id].empty()) return nullptr;
  return &id_to_tok_[id];
}

void WordPieceModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  auto unk = [&] {
    auto it = vocab_.find(unk_);
    // HF: Error::MissingUnkToken; only raised when a word actually needs it.
    IGNIS_CHECK(it != vocab_.end(), "{}: WordPiece unk_token '{}' is not in the vocab", file_, unk_);
    out.push_back(it->second);
  };
  // Character boundaries (byte offsets) of the word.
  std::vector<size_t> bounds;
  bounds.reserve(word.size() + 1);
  for (size_t i = 0; i < word.size(); i += std::min<size_t>(utf8_len(static_cast<uint8_t>(word[i])), word.size() - i))
    bounds.push_back(i);
  bounds.push_back(word.size());
  if (bounds.size() - 1 > max_chars_) return unk();
  size_t first = out.size();
  std::string key;
  size_t s = 0;  // index into bounds
  while (bounds[s] < word.size()) {
    size_t e = bounds.size() - 1;
    int32_t found = -1;
    for (; e > s; --e) {
      std::string_view sub = word.substr(bounds[s], bounds[e] - bounds[s]);
      Vocab::const_iterator it;
      if (bounds[s] > 0) {
        key.assign(prefix_);
        key.append(sub);
        it = vocab_.find(key);
      } else {
        it = vocab_.find(sub);
      }
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      out.resize(first);
      return unk();
    }
    out.push_back(found);
    s = e;
  }
}

namespace {

// HF decoders::wordpiece::cleanup: undoes the spaces BERT's splitting put before punctuation.
std::string cleanup(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},    {" ?", "?"},     {" !", "!"},           {" ,", ","},     {" ' ", "'"},    {" n't", "n't"},
      {" 'm", "'m"},  {" do not", " don't"}, {" 's", "'s"},  {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string_view f(from);
    if (s.find(f) == std::string::npos) continue;
    std::string out;
    size_t prev = 0, p;
    while ((p = s.find(f, prev)) != std::string::npos) {
      out.append(s, prev, p - prev);
      out += to;
      prev = p + f.size();
    }
    out.append(s, prev, std::string::npos);
    s = std::move(out);
  }
  return s;
}

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t.insert(0, 1, ' ');
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

}  // namespace

std::unique_ptr<Decoder> make_wordpiece_decoder(const nlohmann::json& j, const std::string& file) {
  std::string prefix = "##";
  if (j.contains("prefix")) {
    IGNIS_CHECK(j["prefix"].is_string(), "{}: WordPiece decoder prefix must be a string", file);
    prefix = j["prefix"].get<std::string>();
  }
  return std::make_unique<WordPieceDecoder>(prefix, j.value("cleanup", true));
}

}  // namespace ignis::tok
