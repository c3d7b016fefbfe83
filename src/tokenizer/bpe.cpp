#include "tokenizer/bpe.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

BpeModel::BpeModel(const nlohmann::json& m, const std::string& file) {
  IGNIS_CHECK(m.contains("vocab") && m["vocab"].is_object(), "{}: model.vocab must be an object", file);
  IGNIS_CHECK(m.contains("merges") && m["merges"].is_array(), "{}: model.merges must be an array", file);
  if (m.contains("dropout") && !m["dropout"].is_null())
    IGNIS_CHECK(m["dropout"].get<double>() == 0.0, "{}: BPE dropout is not supported", file);
  vocab_.reserve(m["vocab"].size());
  int32_t max_id = -1;
  for (auto& [tok, idj] : m["vocab"].items()) {
    IGNIS_CHECK(idj.is_number_integer(), "{}: model.vocab['{}'] is not an integer id", file, tok);
    int64_t id = idj.get<int64_t>();
    IGNIS_CHECK(id >= 0 && id < (1 << 30), "{}: model.vocab['{}'] has out-of-range id {}", file, tok, id);
    vocab_.emplace(tok, static_cast<int32_t>(id));
    max_id = std::max<int32_t>(max_id, static_cast<int32_t>(id));
  }
  id_to_tok_.resize(max_id + 1);
  for (auto& [tok, id] : vocab_) id_to_tok_[id] = tok;

  auto opt_str = [&](const char* k) -> std::string {
    return m.contains(k) && m[k].is_string() ? m[k].get<std::string>() : std::string();
  };
  prefix_ = opt_str("continuing_subword_prefix");
  suffix_ = opt_str("end_of_word_suffix");
  fuse_unk_ = m.value("fuse_unk", false);
  byte_fallback_ = m.value("byte_fallback", false);
  ignore_merges_ = m.value("ignore_merges", false);
  if (std::string unk = opt_str("unk_token"); !unk.empty()) {
    auto it = vocab_.find(unk);
    IGNIS_CHECK(it != vocab_.end(), "{}: model.unk_token '{}' is not in the vocab", file, unk);
    unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }

  const auto& merges = m["merges"];
  merges_.reserve(merges.size() * 2);
  int32_t rank = 0;
  std::string merged;  // reused buffer: a + b (without b's continuing-subword prefix)
  for (const auto& mj : merges) {
    std::string_view a, b;
    if (mj.is_string()) {
      std::string_view s = mj.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      IGNIS_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                  "{}: merge #{} '{}' is not two tokens separated by one space", file, rank, s);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      IGNIS_CHECK(mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string(),
                  "{}: merge #{} is neither \"a b\" nor [\"a\", \"b\"]", file, rank);
      a = mj[0].get_ref<const std::string&>();
      b = mj[1].get_ref<const std::string&>();
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    IGNIS_CHECK(ia != vocab_.end() && ib != vocab_.end(), "{}: merge #{} uses a token not in the vocab", file, rank);
    merged.assign(a);
    merged.append(!prefix_.empty() && b.substr(0, prefix_.size()) == prefix_ ? b.substr(prefix_.size()) : b);
    auto im = vocab_.find(merged);
    IGNIS_CHECK(im != vocab_.end(), "{}: merge #{} result '{}' is not in the vocab", file, rank, merged);
    merges_.emplace(pair_key(ia->second, ib->second), Merge{rank, im->second});
    ++rank;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view tok) const {
  auto it = vocab_.find(tok);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(id_to_tok_.size()) || id_to_tok_[id].empty()) return nullptr;
  return &id_to_tok_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  // The cache holds every result (ignore_merges hits too): one hash lookup per repeated word.
  bool cacheable = word.size() < kCacheMaxLen;
  if (cacheable) {
    std::lock_guard<std::mutex> lk(cache_mu_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  auto whole = ignore_merges_ ? vocab_.find(word) : vocab_.end();
  if (whole != vocab_.end()) out.push_back(whole->second);
  else merge_word(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lk(cache_mu_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + start, out.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  auto add = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, true});
    if (n > 0) syms[n - 1].next = n;
  };
  // Initial symbols: one per character (HF Model::merge_word), with unk fusing and byte fallback.
  int32_t pending_unk = -1;
  std::string tmp;
  for (size_t i = 0; i < word.size();) {
    size_t n = std::min<size_t>(utf8_len(static_cast<uint8_t>(word[i])), word.size() - i);
    std::string_view ch = word.substr(i, n);
    bool first = i == 0, last = i + n == word.size();
    i += n;
    std::string_view key = ch;
    if ((!prefix_.empty() && !first) || (!suffix_.empty() && last)) {
      tmp.assign((!prefix_.empty() && !first) ? prefix_ : std::string());
      tmp.append(ch);
      if (!suffix_.empty() && last) tmp.append(suffix_);
      key = tmp;
    }
    if (auto it = vocab_.find(key); it != vocab_.end()) {
      if (pending_unk >= 0) add(pending_unk), pending_unk = -1;
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : key) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : key) add(byte_ids_[c]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) add(pending_unk);
      pending_unk = *unk_id_;
    }
  }
  if (pending_unk >= 0) add(pending_unk);
  if (syms.empty()) return;

  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push_pair = [&](int32_t pos) {
    int32_t nx = syms[pos].next;
    if (nx < 0) return;
    auto it = merges_.find(pair_key(syms[pos].id, syms[nx].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(syms.size()); ++p) push_pair(p);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& s = syms[c.pos];
    if (!s.alive || s.next < 0) continue;
    Sym& r = syms[s.next];
    auto it = merges_.find(pair_key(s.id, r.id));
    if (it == merges_.end() || it->second.new_id != c.new_id) continue;  // stale entry
    s.id = c.new_id;
    r.alive = false;
    s.next = r.next;
    if (s.next >= 0) syms[s.next].prev = c.pos;
    if (s.prev >= 0) push_pair(s.prev);
    push_pair(c.pos);
  }
  for (int32_t p = 0; p >= 0; p = syms[p].next) out.push_back(syms[p].id);
}

}  // namespace ignis::tok
