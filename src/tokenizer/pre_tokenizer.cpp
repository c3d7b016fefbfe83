#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"

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

void split_pieces(std::vector<std::string>& pieces, const Regex& re, bool invert, Behavior bh) {
  std::vector<std::string> out;
  out.reserve(pieces.size() * 4);
  for (auto& p : pieces) {
    for (auto [b, e] : apply_behavior(segments(re, p, invert), bh))
      if (e > b) out.emplace_back(p, b, e - b);
  }
  pieces = std::move(out);
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
  void pre_tokenize(std::vector<std::string>& pieces) const override { split_pieces(pieces, *re_, invert_, bh_); }

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
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    if (add_prefix_space_)
      for (auto& p : pieces)
        if (!p.empty() && p[0] != ' ') p.insert(0, 1, ' ');
    if (re_) split_pieces(pieces, *re_, false, Behavior::Isolated);
    for (auto& p : pieces) p = byte_level_encode(p);
  }

 private:
  bool add_prefix_space_, use_regex_;
  std::unique_ptr<Regex> re_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> v) : v_(std::move(v)) {}
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    for (auto& p : v_) p->pre_tokenize(pieces);
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
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> v;
    for (auto& p : j.at("pretokenizers"))
      if (auto q = make_pre_tokenizer(p, file)) v.push_back(std::move(q));
    return std::make_unique<SequencePre>(std::move(v));
  }
  IGNIS_FAIL("{}: unsupported pre_tokenizer type '{}'", file, type);
}

}  // namespace ignis::tok
