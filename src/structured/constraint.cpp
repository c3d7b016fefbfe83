#include "structured/constraint.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "structured/frontends.h"
#include "tokenizer/tokenizer.h"

namespace ignis::structured {

std::string ConstraintSpec::key() const {
  std::string k;
  k.push_back(static_cast<char>('0' + static_cast<int>(kind)));
  k.push_back(strict ? 's' : 'n');
  return k + text;
}

Grammar compile_grammar(const ConstraintSpec& spec) {
  switch (spec.kind) {
    case ConstraintSpec::Kind::JsonObject: return lower(json_object_rules(), "json_object");
    case ConstraintSpec::Kind::JsonSchema: {
      nlohmann::ordered_json j;  // keeps the schema's property order
      try {
        j = nlohmann::ordered_json::parse(spec.text);
      } catch (const nlohmann::json::exception& e) {
        IGNIS_FAIL("json_schema: the schema is not valid JSON: {}", e.what());
      }
      return lower(json_schema_rules(j, spec.strict), "json_schema");
    }
    case ConstraintSpec::Kind::Regex: {
      RuleSet rs;
      rs.add("root", parse_regex(spec.text, "regex"));
      return lower(rs, "regex");
    }
    case ConstraintSpec::Kind::Grammar: return lower(parse_gbnf(spec.text), "grammar");
  }
  IGNIS_FAIL("structured: unknown constraint kind");
}

CompiledConstraint::CompiledConstraint(Grammar g, std::shared_ptr<const TokenVocab> vocab)
    : g_(std::move(g)), pda_(g_), vocab_(std::move(vocab)), words_(Matcher::mask_words(vocab_->size())) {}

std::shared_ptr<const CompiledConstraint> compile(const ConstraintSpec& spec, std::shared_ptr<const TokenVocab> vocab) {
  IGNIS_CHECK(vocab != nullptr, "structured: compile without a vocabulary");
  return std::make_shared<const CompiledConstraint>(compile_grammar(spec), std::move(vocab));
}

void CompiledConstraint::compute_mask(std::vector<Node>& pool, const PdaState& s, uint32_t* bits) const {
  std::memset(bits, 0, words_ * sizeof(uint32_t));
  const auto& t = vocab_->trie();
  size_t depth = t.max_depth + 1;
  std::vector<PdaState> st(depth + 1);
  std::vector<size_t> mark(depth + 1);
  std::vector<ByteSet> next(depth + 1);
  PdaScratch scratch;
  std::unordered_map<uint64_t, std::pair<PdaState, PdaState>> memo;  // (state, byte) key -> (state, next)
  st[0] = s;
  mark[0] = pool.size();
  next[0] = pda_.next_bytes(pool, s);
  bool any = false;
  // Preorder walk; a node's state is its parent's advanced by the node's byte. Dead subtrees
  // (and bytes no stack can take) are skipped whole; nodes made under a sibling are dropped.
  for (uint32_t i = 1; i < t.size();) {
    size_t d = t.depth[i];
    pool.resize(mark[d - 1]);
    if (!next[d - 1].test(t.byte[i])) {
      i = t.subtree_end[i];
      continue;
    }
    // Memo of (state, byte) -> state within the subtree of one first byte, for states made of
    // nodes that live as long as that subtree (below mark[1]): loops (a string's characters, a
    // repetition) map a state to itself, so most nodes cost a lookup instead of an advance.
    const PdaState& from = st[d - 1];
    if (d == 1) {
      memo.clear();
      pda_.advance(pool, from, t.byte[i], st[d], &scratch);
    } else {
      auto lives = [&](const PdaState& x) {
        for (int32_t n : x.tops)
          if (static_cast<size_t>(n) >= mark[1]) return false;
        return x.tops.size() <= 4;
      };
      if (lives(from)) {
        uint64_t key = t.byte[i] | (from.done ? 0x100u : 0u);
        for (int32_t n : from.tops) key = key * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(n) + 1;
        auto it = memo.find(key);
        if (it != memo.end() && it->second.first.tops == from.tops && it->second.first.done == from.done) {
          st[d] = it->second.second;
        } else {
          pda_.advance(pool, from, t.byte[i], st[d], &scratch);
          if (lives(st[d]) && it == memo.end()) memo.emplace(key, std::make_pair(from, st[d]));
        }
      } else {
        pda_.advance(pool, from, t.byte[i], st[d], &scratch);
      }
    }
    if (!st[d].alive()) {
      i = t.subtree_end[i];
      continue;
    }
    for (uint32_t k = t.tok_begin[i]; k < t.tok_begin[i + 1]; ++k) {
      int32_t id = t.toks[k];
      bits[id >> 5] |= uint32_t{1} << (id & 31);
      any = true;
    }
    if (t.subtree_end[i] > i + 1) {
      mark[d] = pool.size();
      next[d] = pda_.next_bytes(pool, st[d]);
    }
    ++i;
  }
  pool.resize(mark[0]);
  // End ids when complete; also when nothing else is possible (a vocabulary without the bytes
  // the grammar needs), so that a mask is never all zero.
  if (pda_.can_end(pool, s) || !any)
    for (int32_t id : vocab_->end_ids()) bits[id >> 5] |= uint32_t{1} << (id & 31);
}

void CompiledConstraint::fill_mask(std::vector<Node>& pool, const PdaState& s, uint32_t* bits) const {
  std::string key;
  pda_.key(pool, s, key);
  {
    std::shared_lock lk(mu_);
    auto it = masks_.find(key);
    if (it != masks_.end()) {
      std::memcpy(bits, it->second.data(), words_ * sizeof(uint32_t));
      __atomic_fetch_add(&hits_, 1, __ATOMIC_RELAXED);
      return;
    }
  }
  compute_mask(pool, s, bits);
  std::unique_lock lk(mu_);
  ++misses_;
  if ((masks_.size() + 1) * words_ * sizeof(uint32_t) > kMaxCacheBytes) masks_.clear();
  masks_.emplace(std::move(key), std::vector<uint32_t>(bits, bits + words_));
}

CompiledConstraint::CacheStats CompiledConstraint::cache_stats() const {
  std::shared_lock lk(mu_);
  return {__atomic_load_n(&hits_, __ATOMIC_RELAXED), misses_, masks_.size()};
}

// ---- Matcher ----

struct Matcher::Impl {
  std::shared_ptr<const CompiledConstraint> c;
  mutable std::vector<Node> pool;
  struct Snap {
    PdaState s;
    size_t pool_size;
    bool ended;
  };
  std::vector<Snap> hist;  // hist[0]: before any token
  PdaState tmp, cur;
  PdaScratch scratch;
  const Snap& top() const { return hist.back(); }
};

Matcher::Matcher(std::shared_ptr<const CompiledConstraint> c) : impl_(std::make_unique<Impl>()) {
  IGNIS_CHECK(c != nullptr, "structured: Matcher without a constraint");
  impl_->c = std::move(c);
  PdaState s = impl_->c->pda().initial(impl_->pool);
  impl_->hist.push_back({std::move(s), impl_->pool.size(), false});
}
Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;

int Matcher::vocab_size() const { return impl_->c->vocab().size(); }

void Matcher::fill_mask(uint32_t* bits) const {
  const auto& snap = impl_->top();
  if (snap.ended) {
    std::memset(bits, 0, mask_words(vocab_size()) * sizeof(uint32_t));
    for (int32_t id : impl_->c->vocab().end_ids()) bits[id >> 5] |= uint32_t{1} << (id & 31);
    return;
  }
  impl_->c->fill_mask(impl_->pool, snap.s, bits);
}

bool Matcher::accept(int32_t token) {
  Impl& m = *impl_;
  if (m.top().ended) return false;
  const TokenVocab& v = m.c->vocab();
  const Pda& pda = m.c->pda();
  if (v.is_end(token)) {
    if (!pda.can_end(m.pool, m.top().s)) return false;
    m.hist.push_back({m.top().s, m.pool.size(), true});
    return true;
  }
  const std::string* bytes = v.bytes(token);
  if (!bytes || bytes->empty()) return false;
  m.cur = m.top().s;
  for (unsigned char b : *bytes) {
    pda.advance(m.pool, m.cur, b, m.tmp, &m.scratch);
    if (!m.tmp.alive()) {
      m.pool.resize(m.top().pool_size);
      return false;
    }
    std::swap(m.cur, m.tmp);
  }
  m.hist.push_back({m.cur, m.pool.size(), false});
  return true;
}

void Matcher::rollback(size_t n) {
  IGNIS_CHECK(n <= n_accepted(), "structured: rollback of {} tokens with {} accepted", n, n_accepted());
  impl_->hist.resize(impl_->hist.size() - n);
  impl_->pool.resize(impl_->top().pool_size);
}

size_t Matcher::n_accepted() const { return impl_->hist.size() - 1; }

bool Matcher::can_end() const {
  const auto& snap = impl_->top();
  return !snap.ended && impl_->c->pda().can_end(impl_->pool, snap.s);
}

bool Matcher::finished() const {
  const auto& snap = impl_->top();
  return snap.ended || (snap.s.tops.empty() && snap.s.done);
}

// ---- ConstraintCache ----

struct ConstraintCache::Impl {
  std::shared_ptr<const TokenVocab> vocab;
  size_t capacity;
  std::mutex mu;
  std::list<std::pair<std::string, std::shared_ptr<const CompiledConstraint>>> lru;  // front: most recent
  std::unordered_map<std::string, decltype(lru)::iterator> index;
};

ConstraintCache::ConstraintCache(std::shared_ptr<const TokenVocab> vocab, size_t capacity)
    : impl_(std::make_unique<Impl>()) {
  IGNIS_CHECK(vocab != nullptr, "structured: ConstraintCache without a vocabulary");
  impl_->vocab = std::move(vocab);
  impl_->capacity = capacity ? capacity : 1;
}
ConstraintCache::~ConstraintCache() = default;

const std::shared_ptr<const TokenVocab>& ConstraintCache::vocab() const { return impl_->vocab; }

std::shared_ptr<const CompiledConstraint> ConstraintCache::get(const ConstraintSpec& spec) {
  Impl& m = *impl_;
  std::string key = spec.key();
  {
    std::lock_guard lk(m.mu);
    auto it = m.index.find(key);
    if (it != m.index.end()) {
      m.lru.splice(m.lru.begin(), m.lru, it->second);
      return it->second->second;
    }
  }
  auto c = compile(spec, m.vocab);  // outside the lock: compiles of different specs run in parallel
  std::lock_guard lk(m.mu);
  auto it = m.index.find(key);
  if (it != m.index.end()) return it->second->second;
  m.lru.emplace_front(key, c);
  m.index[key] = m.lru.begin();
  while (m.lru.size() > m.capacity) {
    m.index.erase(m.lru.back().first);
    m.lru.pop_back();
  }
  return c;
}

std::unique_ptr<ConstraintCache> make_constraint_cache(const Tokenizer& tok, std::vector<int32_t> end_ids,
                                                       size_t capacity) {
  if (end_ids.empty())
    if (auto e = tok.eos_id()) end_ids.push_back(*e);
  std::vector<int32_t> ends;
  for (int32_t e : end_ids)
    if (std::find(ends.begin(), ends.end(), e) == ends.end()) ends.push_back(e);
  return std::make_unique<ConstraintCache>(make_token_vocab(tok, std::move(ends)), capacity);
}

}  // namespace ignis::structured
