#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_class.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {
namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Seg {
  size_t b, e;
  bool match;
};

// Segments of `s` (matches and the gaps between them), as HF's Pattern::find_matches.
std::vector<Seg> segments(const Regex& re, const std::string& s, bool invert) {
  std::vector<Seg> out;
  size_t prev = 0;
  for (auto [b, e] : re.find_all(s)) {
    if (prev != b) out.push_back({prev, b, invert});
    out.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != s.size()) out.push_back({prev, s.size(), invert});
  return out;
}

// Applies the split behaviour (HF SplitDelimiterBehavior); returns kept ranges.
std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Seg>& segs, Behavior bh) {
  std::vector<std::pair<size_t, size_t>> acc;
  bool prev_match = false;
  switch (bh) {
    case Behavior::Removed:
      for (auto& s : segs)
        if (!s.match) acc.emplace_back(s.b, s.e);
      break;
    case Behavior::Isolated:
      for (auto& s : segs) acc.emplace_back(s.b, s.e);
      break;
    case Behavior::MergedWithPrevious:
      for (auto& s : segs) {
        if (s.match && !prev_match && !acc.empty()) acc.back().second = s.e;
        else acc.emplace_back(s.b, s.e);
        prev_match = s.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (size_t k = segs.size(); k-- > 0;) {
        auto& s = segs[k];
        if (s.match && !prev_match && !acc.empty()) acc.back().first = s.b;
        else acc.emplace_back(s.b, s.e);
        prev_match = s.match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
    case Behavior::Contiguous:
      for (auto& s : segs) {
        if (s.match == prev_match && !acc.empty()) acc.back().second = s.e;
        else acc.emplace_back(s.b, s.e);
        prev_match = s.match;
      }
      break;
  }
  return acc;
}

// Replaces each piece by the [b, e) ranges `ranges(piece)` gives (empty ones dropped);
// a sub-piece keeps the part of its piece's start span it covers.
template <class RangesFn>
void split_ranges(std::vector<std::string>& pieces, std::vector<size_t>& spans, RangesFn&& ranges) {
  std::vector<std::string> out;
  std::vector<size_t> out_spans;
  size_t total = 0;
  for (auto& p : pieces) total += p.size();
  out.reserve(total / 3 + pieces.size());
  out_spans.reserve(total / 3 + pieces.size());
  for (size_t k = 0; k < pieces.size(); ++k) {
    const std::string& p = pieces[k];
    size_t span = k < spans.size() ? spans[k] : 0;
    for (auto [b, e] : ranges(p)) {
      if (e <= b) continue;
      out.emplace_back(p, b, e - b);
      out_spans.push_back(b < span ? std::min(span - b, e - b) : 0);
    }
  }
  pieces = std::move(out);
  spans = std::move(out_spans);
}

void split_pieces(std::vector<std::string>& pieces, std::vector<size_t>& spans, const Regex& re, bool invert, Behavior bh) {
  if (bh == Behavior::Isolated) {  // the common case: every match and every gap is a piece
    split_ranges(pieces, spans, [&](const std::string& p) {
      std::vector<std::pair<size_t, size_t>> out;
      size_t prev = 0;
      for (auto [b, e] : re.find_all(p)) {
        if (prev != b) out.emplace_back(prev, b);
        out.emplace_back(b, e);
        prev = e;
      }
      if (prev != p.size()) out.emplace_back(prev, p.size());
      return out;
    });
    return;
  }
  split_ranges(pieces, spans, [&](const std::string& p) { return apply_behavior(segments(re, p, invert), bh); });
}

class Split : public PreTokenizer {
 public:
  Split(const nlohmann::json& j, const std::string& file) {
    const auto& pat = j.at("pattern");
    if (pat.contains("Regex")) re_ = std::make_unique<Regex>(pat["Regex"].get<std::string>(), false, file + ": Split pre-tokenizer");
    else if (pat.contains("String")) re_ = std::make_unique<Regex>(pat["String"].get<std::string>(), true, file + ": Split pre-tokenizer");
    else IGNIS_FAIL("{}: Split pre-tokenizer pattern must be String or Regex", file);
    std::string b = j.at("behavior").get<std::string>();
    if (b == "Removed") bh_ = Behavior::Removed;
    else if (b == "Isolated") bh_ = Behavior::Isolated;
    else if (b == "MergedWithPrevious") bh_ = Behavior::MergedWithPrevious;
    else if (b == "MergedWithNext") bh_ = Behavior::MergedWithNext;
    else if (b == "Contiguous") bh_ = Behavior::Contiguous;
    else IGNIS_FAIL("{}: Split pre-tokenizer has unknown behavior '{}'", file, b);
    invert_ = j.value("invert", false);
  }
  void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const override {
    split_pieces(pieces, spans, *re_, invert_, bh_);
  }

 private:
  std::unique_ptr<Regex> re_;
  Behavior bh_;
  bool invert_;
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(const nlohmann::json& j, const std::string& file)
      : add_prefix_space_(j.value("add_prefix_space", true)), use_regex_(j.value("use_regex", true)) {
    if (use_regex_)
      re_ = std::make_unique<Regex>(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", false,
          file + ": ByteLevel pre-tokenizer");
  }
  void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const override {
    spans.resize(pieces.size(), 0);
    if (add_prefix_space_)
      for (size_t k = 0; k < pieces.size(); ++k)
        if (!pieces[k].empty() && pieces[k][0] != ' ') pieces[k].insert(0, 1, ' '), spans[k] += spans[k] ? 1 : 0;
    if (re_) split_pieces(pieces, spans, *re_, false, Behavior::Isolated);
    for (size_t k = 0; k < pieces.size(); ++k) {
      if (spans[k]) spans[k] = byte_level_encode(pieces[k].substr(0, spans[k])).size();
      pieces[k] = byte_level_encode(pieces[k]);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
  std::unique_ptr<Regex> re_;
};

// SentencePiece-style: ' ' -> replacement (U+2581), optional prepended replacement
// (prepend_scheme always / first / never), optional split before each replacement.
class Metaspace : public PreTokenizer {
 public:
  Metaspace(const nlohmann::json& j, const std::string& file) {
    rep_ = j.value("replacement", std::string("\xE2\x96\x81"));
    IGNIS_CHECK(!rep_.empty(), "{}: Metaspace replacement is empty", file);
    split_ = j.value("split", true);
    std::string scheme = j.contains("prepend_scheme") && j["prepend_scheme"].is_string()
                             ? j["prepend_scheme"].get<std::string>()
                             : (j.value("add_prefix_space", true) ? "always" : "never");
    if (scheme == "always") scheme_ = 0;
    else if (scheme == "first") scheme_ = 1;
    else if (scheme == "never") scheme_ = 2;
    else IGNIS_FAIL("{}: Metaspace has unknown prepend_scheme '{}'", file, scheme);
  }
  void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const override {
    spans.resize(pieces.size(), 0);
    for (size_t k = 0; k < pieces.size(); ++k) {
      std::string& p = pieces[k];
      if (p.empty()) continue;  // HF: nothing is prepended to an empty piece (all normalized away)
      std::string r;
      r.reserve(p.size() + rep_.size());
      size_t span = 0;
      for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] == ' ') r += rep_;
        else r += p[i];
        if (i + 1 == spans[k]) span = r.size();
      }
      bool starts = r.compare(0, rep_.size(), rep_) == 0;
      // "first": only pieces whose original offset is 0 (HF offsets_original().0 == 0).
      if (!starts && (scheme_ == 0 || (scheme_ == 1 && spans[k] > 0))) {
        r.insert(0, rep_);
        if (span) span += rep_.size();
      }
      spans[k] = span;
      p = std::move(r);
    }
    if (!split_) return;
    split_ranges(pieces, spans, [&](const std::string& p) {
      std::vector<std::pair<size_t, size_t>> out;  // MergedWithNext on each replacement
      size_t b = 0;
      for (size_t pos = p.find(rep_, 1); pos != std::string::npos; pos = p.find(rep_, pos + rep_.size())) {
        out.emplace_back(b, pos);
        b = pos;
      }
      out.emplace_back(b, p.size());
      return out;
    });
  }

 private:
  std::string rep_;
  bool split_ = true;
  int scheme_ = 0;  // 0 always, 1 first, 2 never
};

// Splits on Unicode whitespace (removed); with `bert`, each punctuation character
// (ASCII punctuation or Unicode P*) becomes a piece of its own (HF BertPreTokenizer).
class WhitespacePunct : public PreTokenizer {
 public:
  explicit WhitespacePunct(bool bert) : bert_(bert) {}
  void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const override {
    split_ranges(pieces, spans, [&](const std::string& p) {
      std::vector<std::pair<size_t, size_t>> out;
      size_t word = std::string::npos;  // start of the current run of ordinary characters
      for (size_t i = 0; i < p.size();) {
        size_t b = i;
        uint32_t c = next_code_point(p, i);
        bool space = c < 0x80 ? (c == ' ' || (c >= 0x09 && c <= 0x0D)) : is_bert_whitespace(c);
        bool punct = bert_ && !space && is_bert_punctuation(c);
        if (space || punct) {
          if (word != std::string::npos) out.emplace_back(word, b), word = std::string::npos;
          if (punct) out.emplace_back(b, i);
        } else if (word == std::string::npos) {
          word = b;
        }
      }
      if (word != std::string::npos) out.emplace_back(word, p.size());
      return out;
    });
  }

 private:
  bool bert_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> v) : v_(std::move(v)) {}
  void pre_tokenize(std::vector<std::string>& pieces, std::vector<size_t>& spans) const override {
    for (auto& p : v_) p->pre_tokenize(pieces, spans);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> v_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& file) {
  if (j.is_null()) return nullptr;
  IGNIS_CHECK(j.is_object() && j.contains("type"), "{}: pre_tokenizer must be an object with a \"type\"", file);
  std::string type = j["type"].get<std::string>();
  if (type == "Split") return std::make_unique<Split>(j, file);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(j, file);
  if (type == "Metaspace") return std::make_unique<Metaspace>(j, file);
  if (type == "BertPreTokenizer") return std::make_unique<WhitespacePunct>(true);
  if (type == "WhitespaceSplit") return std::make_unique<WhitespacePunct>(false);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> v;
    for (auto& p : j.at("pretokenizers"))
      if (auto q = make_pre_tokenizer(p, file)) v.push_back(std::move(q));
    return std::make_unique<SequencePre>(std::move(v));
  }
  IGNIS_FAIL("{}: unsupported pre_tokenizer type '{}'", file, type);
}

}  // namespace ignis::tok
