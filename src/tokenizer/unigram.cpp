#include "tokenizer/unigram.h"

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

namespace {
constexpr double kUnkPenalty = 10.0;  // HF unigram::model::K_UNK_PENALTY
}

UnigramModel::UnigramModel(const nlohmann::json& m, const std::string& file) : file_(file) {
  IGNIS_CHECK(m.contains("vocab") && m["vocab"].is_array(), "{}: model.vocab must be an array of [piece, score] (Unigram)",
              file);
  const auto& v = m["vocab"];
  pieces_.reserve(v.size());
  scores_.reserve(v.size());
  double min_score = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < v.size(); ++i) {
    const auto& e = v[i];
    IGNIS_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_number(),
                "{}: model.vocab[{}] is not [piece, score]", file, i);
    pieces_.push_back(e[0].get<std::string>());
    scores_.push_back(e[1].get<double>());
    min_score = std::min(min_score, scores_.back());
  }
  IGNIS_CHECK(!pieces_.empty(), "{}: Unigram model.vocab is empty", file);
  to_id_.reserve(pieces_.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const std::string& p = pieces_[i];
    to_id_[p] = static_cast<int32_t>(i);
    for (size_t n = 1; n < p.size(); ++n) prefixes_.emplace(p.substr(0, n), -1);
  }
  for (auto& [p, id] : to_id_) prefixes_[p] = id;
  if (m.contains("unk_id") && !m["unk_id"].is_null()) {
    IGNIS_CHECK(m["unk_id"].is_number_integer() && m["unk_id"].get<int64_t>() >= 0 &&
                    m["unk_id"].get<int64_t>() < static_cast<int64_t>(pieces_.size()),
                "{}: model.unk_id is not an index into model.vocab", file);
    unk_id_ = m["unk_id"].get<int32_t>();
  }
  unk_score_ = min_score - kUnkPenalty;
  byte_fallback_ = m.value("byte_fallback", false);
  for (int b = 0; b < 256; ++b) {
    auto it = to_id_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == to_id_.end() ? -1 : it->second;
  }
}

std::optional<int32_t> UnigramModel::token_to_id(std::string_view tok) const {
  auto it = to_id_.find(tok);
  if (it == to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* UnigramModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(pieces_.size())) return nullptr;
  return &pieces_[id];
}

// HF Unigram::encode_optimized: best_path_ends_at[i] over byte positions; candidates at
// each character start in increasing length, a later one replacing only on a strictly
// better score.
std::vector<std::pair<size_t, size_t>> UnigramModel::segment(std::string_view s) const {
  struct Node {
    double score = 0;
    int64_t start = -1;  // -1: not reached yet
    int32_t id = -1;
  };
  const size_t n = s.size();
  std::vector<Node> best(n + 1);
  std::string key;
  for (size_t start = 0; start < n;) {
    size_t mblen = std::min<size_t>(utf8_len(static_cast<uint8_t>(s[start])), n - start);
    double base = best[start].score;
    bool has_single = false;
    key.clear();
    for (size_t e = start; e < n; ++e) {
      key.push_back(s[e]);
      auto it = prefixes_.find(key);
      if (it == prefixes_.end()) break;
      if (it->second < 0) continue;
      Node& t = best[e + 1];
      double cand = base + scores_[it->second];
      if (t.start < 0 || cand > t.score) t = {cand, static_cast<int64_t>(start), it->second};
      if (e + 1 - start == mblen) has_single = true;
    }
    if (!has_single) {
      IGNIS_CHECK(unk_id_.has_value(), "{}: Unigram model has no unk_id but the input has a character not in the vocab",
                  file_);
      Node& t = best[start + mblen];
      double cand = base + unk_score_;
      if (t.start < 0 || cand > t.score) t = {cand, static_cast<int64_t>(start), *unk_id_};
    }
    start += mblen;
  }
  // Walk back; consecutive unk nodes fuse into one piece (HF fuse_unk is always on here).
  std::vector<std::pair<size_t, size_t>> out;
  size_t unk_end = 0;
  bool in_unk = false;
  for (size_t e = n; e > 0;) {
    const Node& nd = best[e];
    size_t b = static_cast<size_t>(nd.start);
    bool is_unk = unk_id_ && nd.id == *unk_id_;
    if (is_unk) {
      if (!in_unk) unk_end = e, in_unk = true;
    } else {
      if (in_unk) out.emplace_back(e, unk_end), in_unk = false;
      out.emplace_back(b, e);
    }
    e = b;
  }
  if (in_unk) out.emplace_back(0, unk_end);
  std::reverse(out.begin(), out.end());
  return out;
}

void UnigramModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  for (auto [b, e] : segment(word)) {
    std::string_view piece = word.substr(b, e - b);
    if (auto it = to_id_.find(piece); it != to_id_.end()) {
      out.push_back(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : piece) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : piece) out.push_back(byte_ids_[c]);
        continue;
      }
    }
    out.push_back(*unk_id_);  // segment() made sure an unk id exists
  }
}

}  // namespace ignis::tok
