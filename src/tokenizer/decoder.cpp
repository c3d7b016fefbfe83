#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"
#include "tokenizer/wordpiece.h"

namespace ignis::tok {
namespace {

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (auto& t : tokens) byte_level_decode_token(t, bytes);
    tokens.assign(1, utf8_lossy(bytes));
  }
  void token_bytes(std::string& t, bool& whole) const override {
    std::string bytes;
    byte_level_decode_token(t, bytes);
    t = std::move(bytes);
    whole = true;
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(const nlohmann::json& j, const std::string& file) : content_(j.at("content").get<std::string>()) {
    const auto& pat = j.at("pattern");
    if (pat.contains("String")) literal_ = pat["String"].get<std::string>();
    else if (pat.contains("Regex")) re_ = std::make_unique<Regex>(pat["Regex"].get<std::string>(), false, file + ": Replace decoder");
    else IGNIS_FAIL("{}: Replace decoder pattern must be String or Regex", file);
    IGNIS_CHECK(re_ || !literal_.empty(), "{}: Replace decoder with an empty pattern", file);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t prev = 0;
      if (re_) {
        for (auto [b, e] : re_->find_all(t)) {
          out.append(t, prev, b - prev);
          out += content_;
          prev = e;
        }
      } else {
        if (t.find(literal_) == std::string::npos) continue;
        size_t p;
        while ((p = t.find(literal_, prev)) != std::string::npos) {
          out.append(t, prev, p - prev);
          out += content_;
          prev = p + literal_.size();
        }
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::string content_, literal_;
  std::unique_ptr<Regex> re_;
};

// "<0xAB>" -> 0xAB, else -1.
int byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int h = hex(t[3]), l = hex(t[4]);
  return (h < 0 || l < 0) ? -1 : h * 16 + l;
}

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8_lossy(pending) == pending) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");  // one U+FFFD per byte
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int b = byte_token(t);
      if (b >= 0) {
        pending.push_back(static_cast<char>(b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
  void token_bytes(std::string& t, bool& whole) const override {
    int b = byte_token(t);
    if (b >= 0) t.assign(1, static_cast<char>(b));
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
  void token_bytes(std::string& t, bool& whole) const override { whole = true; }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(const nlohmann::json& j, const std::string& file)
      : start_(j.value("start", 0)), stop_(j.value("stop", 0)) {
    std::string c = j.at("content").get<std::string>();
    size_t i = 0;
    content_ = next_code_point(c, i);
    IGNIS_CHECK(i == c.size(), "{}: Strip decoder content must be one character", file);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      std::vector<uint32_t> cps;
      for (size_t i = 0; i < t.size();) cps.push_back(next_code_point(t, i));
      size_t b = 0, e = cps.size();
      for (size_t k = 0; k < start_ && b < e && cps[b] == content_; ++k) ++b;
      for (size_t k = 0; k < stop_ && e > b && cps[e - 1] == content_; ++k) --e;
      if (b == 0 && e == cps.size()) continue;
      std::string out;
      for (size_t k = b; k < e; ++k) append_utf8(out, cps[k]);
      t = std::move(out);
    }
  }
  void token_bytes(std::string& t, bool& whole) const override {
    if (!whole) Decoder::token_bytes(t, whole);  // after Fuse it strips the ends of the whole text only
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

// Replacement -> ' '; in the first token, replacements are dropped unless prepend_scheme is never.
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(const nlohmann::json& j, const std::string& file) {
    rep_ = j.value("replacement", std::string("\xE2\x96\x81"));
    IGNIS_CHECK(!rep_.empty(), "{}: Metaspace decoder replacement is empty", file);
    std::string scheme = j.contains("prepend_scheme") && j["prepend_scheme"].is_string()
                             ? j["prepend_scheme"].get<std::string>()
                             : (j.value("add_prefix_space", true) ? "always" : "never");
    strip_first_ = scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (t.find(rep_) == std::string::npos) continue;
      std::string out;
      size_t prev = 0, p;
      while ((p = t.find(rep_, prev)) != std::string::npos) {
        out.append(t, prev, p - prev);
        if (!(i == 0 && strip_first_)) out += ' ';
        prev = p + rep_.size();
      }
      out.append(t, prev, std::string::npos);
      t = std::move(out);
    }
  }
  void token_bytes(std::string& t, bool& whole) const override {  // mid-sequence: every replacement is a space
    std::string out;
    size_t prev = 0, p;
    while ((p = t.find(rep_, prev)) != std::string::npos) {
      out.append(t, prev, p - prev);
      out += ' ';
      prev = p + rep_.size();
    }
    out.append(t, prev, std::string::npos);
    t = std::move(out);
  }

 private:
  std::string rep_;
  bool strip_first_ = true;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> v) : v_(std::move(v)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& d : v_) d->decode_chain(tokens);
  }
  void token_bytes(std::string& t, bool& whole) const override {
    for (auto& d : v_) d->token_bytes(t, whole);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> v_;
};

}  // namespace

void Decoder::token_bytes(std::string& t, bool& whole) const {
  std::vector<std::string> v{t};
  decode_chain(v);
  t.clear();
  for (auto& s : v) t += s;
}

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  IGNIS_CHECK(j.is_object() && j.contains("type"), "{}: decoder must be an object with a \"type\"", file);
  std::string type = j["type"].get<std::string>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, file);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j, file);
  if (type == "Strip") return std::make_unique<StripDecoder>(j, file);
  if (type == "WordPiece") return make_wordpiece_decoder(j, file);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> v;
    for (auto& d : j.at("decoders"))
      if (auto p = make_decoder(d, file)) v.push_back(std::move(p));
    return std::make_unique<SequenceDecoder>(std::move(v));
  }
  IGNIS_FAIL("{}: unsupported decoder type '{}'", file, type);
}

}  // namespace ignis::tok
