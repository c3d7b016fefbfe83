// A test-only stand-in for the constraint library (src/structured, written on another branch), so
// the engine and server integration can be built and tested before it lands. It implements the
// header's API for one trivial constraint family: every kind of spec is read as a character class
// repeated, "[<chars>]+" or "[<chars>]{m,n}" (ranges a-z allowed), over tokens whose decoded bytes all
// lie in the class. Nothing else: the real library replaces this file (the top-level CMakeLists.txt
// builds it only while no ignis_structured target exists).
#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>

#include "core/error.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

namespace ignis::structured {

class TokenVocab {
 public:
  std::vector<std::string> bytes;  // (vocab) decoded text of each token; "" for special tokens
  std::vector<int32_t> end_ids;
};

class CompiledConstraint {
 public:
  std::shared_ptr<const TokenVocab> vocab;
  bool allowed[256] = {};
  size_t min_len = 1, max_len = SIZE_MAX;
};

std::string ConstraintSpec::key() const { return std::to_string(int(kind)) + (strict ? "s:" : ":") + text; }

std::shared_ptr<const TokenVocab> make_token_vocab(const Tokenizer& tok, std::vector<int32_t> end_ids) {
  auto v = std::make_shared<TokenVocab>();
  v->bytes.resize(size_t(tok.vocab_size()));
  // A token's text in context: decoded after a plain letter (SentencePiece drops a leading space otherwise).
  const std::vector<int32_t> a = tok.encode("a", false);
  const std::string pre = a.empty() ? "" : tok.decode(a, false);
  for (int32_t i = 0; i < tok.vocab_size(); ++i) {
    if (tok.is_special(i)) continue;
    std::vector<int32_t> ids = a;
    ids.push_back(i);
    const std::string t = tok.decode(ids, false);
    v->bytes[size_t(i)] = t.compare(0, pre.size(), pre) == 0 ? t.substr(pre.size()) : tok.decode({i}, false);
  }
  v->end_ids = std::move(end_ids);
  return v;
}

std::shared_ptr<const CompiledConstraint> compile(const ConstraintSpec& spec, std::shared_ptr<const TokenVocab> vocab) {
  const std::string& t = spec.text;
  const size_t close = t.find(']');
  IGNIS_CHECK(t.size() >= 3 && t[0] == '[' && close != std::string::npos && close > 1,
              "fake constraint: expected \"[chars]+\" or \"[chars]{{m,n}}\", got '{}'", t);
  auto c = std::make_shared<CompiledConstraint>();
  c->vocab = std::move(vocab);
  for (size_t i = 1; i < close; ++i) {
    const unsigned char a = static_cast<unsigned char>(t[i]);
    if (i + 2 < close && t[i + 1] == '-') {
      for (unsigned x = a; x <= static_cast<unsigned char>(t[i + 2]); ++x) c->allowed[x] = true;
      i += 2;
    } else {
      c->allowed[a] = true;
    }
  }
  const std::string rest = t.substr(close + 1);
  if (rest == "+") return c;
  size_t m = 0, n = 0;
  IGNIS_CHECK(std::sscanf(rest.c_str(), "{%zu,%zu}", &m, &n) == 2 && m >= 1 && n >= m,
              "fake constraint: bad repetition '{}'", rest);
  c->min_len = m;
  c->max_len = n;
  return c;
}

struct ConstraintCache::Impl {
  std::shared_ptr<const TokenVocab> vocab;
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const CompiledConstraint>> map;
};
ConstraintCache::ConstraintCache(std::shared_ptr<const TokenVocab> vocab, size_t) : impl_(std::make_unique<Impl>()) {
  impl_->vocab = std::move(vocab);
}
ConstraintCache::~ConstraintCache() = default;
std::shared_ptr<const CompiledConstraint> ConstraintCache::get(const ConstraintSpec& spec) {
  std::lock_guard lk(impl_->mu);
  auto& slot = impl_->map[spec.key()];
  if (!slot) slot = compile(spec, impl_->vocab);
  return slot;
}
const std::shared_ptr<const TokenVocab>& ConstraintCache::vocab() const { return impl_->vocab; }

struct Matcher::Impl {
  std::shared_ptr<const CompiledConstraint> c;
  std::vector<size_t> lens;  // text length after each accepted token
  bool ended = false;
  size_t len() const { return lens.empty() ? 0 : lens.back(); }
  bool is_end(int32_t t) const { return std::find(c->vocab->end_ids.begin(), c->vocab->end_ids.end(), t) != c->vocab->end_ids.end(); }
  bool fits(int32_t t) const {
    const std::string& b = c->vocab->bytes[size_t(t)];
    if (b.empty() || len() + b.size() > c->max_len) return false;
    for (unsigned char x : b)
      if (!c->allowed[x]) return false;
    return true;
  }
};

Matcher::Matcher(std::shared_ptr<const CompiledConstraint> c) : impl_(std::make_unique<Impl>()) { impl_->c = std::move(c); }
Matcher::~Matcher() = default;
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
int Matcher::vocab_size() const { return int(impl_->c->vocab->bytes.size()); }
void Matcher::fill_mask(uint32_t* bits) const {
  const int V = vocab_size();
  std::fill(bits, bits + mask_words(V), 0u);
  if (impl_->ended) return;
  for (int32_t t = 0; t < V; ++t)
    if ((can_end() && impl_->is_end(t)) || (!impl_->is_end(t) && impl_->fits(t))) bits[t >> 5] |= 1u << (t & 31);
}
bool Matcher::accept(int32_t t) {
  Impl& m = *impl_;
  if (m.ended || t < 0 || t >= vocab_size()) return false;
  if (m.is_end(t)) {
    if (!can_end()) return false;
    m.ended = true;
    m.lens.push_back(m.len());
    return true;
  }
  if (!m.fits(t)) return false;
  m.lens.push_back(m.len() + m.c->vocab->bytes[size_t(t)].size());
  return true;
}
void Matcher::rollback(size_t n) {
  Impl& m = *impl_;
  IGNIS_CHECK(n <= m.lens.size(), "fake matcher: rollback of {} tokens, {} accepted", n, m.lens.size());
  if (n > 0) m.ended = false;
  m.lens.resize(m.lens.size() - n);
}
size_t Matcher::n_accepted() const { return impl_->lens.size(); }
bool Matcher::can_end() const { return !impl_->ended && impl_->len() >= impl_->c->min_len; }
bool Matcher::finished() const { return impl_->ended || impl_->len() >= impl_->c->max_len; }

}  // namespace ignis::structured
