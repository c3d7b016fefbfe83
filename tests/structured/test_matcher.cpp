// Matcher: masks against accept(), end ids, rollback, the mask cache and ConstraintCache.
#include <random>
#include <thread>

#include "common.h"

namespace ignis::test {
namespace {

bool bit(const std::vector<uint32_t>& m, int32_t id) { return (m[id >> 5] >> (id & 31)) & 1; }

std::vector<uint32_t> mask_of(const st::Matcher& m) {
  std::vector<uint32_t> bits(st::Matcher::mask_words(m.vocab_size()));
  m.fill_mask(bits.data());
  return bits;
}

// A tiny vocabulary: every printable ASCII byte, a few multi-byte tokens, a special token, and
// the end id 0.
std::shared_ptr<const st::TokenVocab> tiny_vocab() {
  std::vector<std::optional<std::string>> b{std::string("</s>")};
  for (int c = 32; c < 127; ++c) b.push_back(std::string(1, static_cast<char>(c)));
  for (const char* t : {"ab", "abc", "{\"", "\":", "\"}", "12", "true", "\n"}) b.push_back(std::string(t));
  b.push_back(std::nullopt);  // a special token: never allowed
  b.push_back(std::string());  // an empty token: never allowed
  return std::make_shared<const st::TokenVocab>(std::move(b), std::vector<int32_t>{0});
}

int32_t id_of(const st::TokenVocab& v, const std::string& s) {
  for (int32_t i = 0; i < v.size(); ++i)
    if (v.bytes(i) && *v.bytes(i) == s) return i;
  return -1;
}

TEST(StructuredMatcher, TinyVocabMasksAndEnd) {
  auto v = tiny_vocab();
  st::Matcher m(st::compile(grammar_spec(R"(root ::= "ab" "c"?)"), v));
  auto mk = mask_of(m);
  EXPECT_TRUE(bit(mk, id_of(*v, "a")));
  EXPECT_TRUE(bit(mk, id_of(*v, "ab")));
  EXPECT_TRUE(bit(mk, id_of(*v, "abc")));
  EXPECT_FALSE(bit(mk, id_of(*v, "b")));
  EXPECT_FALSE(bit(mk, 0));
  EXPECT_FALSE(bit(mk, v->size() - 1));
  EXPECT_FALSE(bit(mk, v->size() - 2));
  EXPECT_FALSE(m.accept(0));
  EXPECT_FALSE(m.accept(v->size() - 1));
  ASSERT_TRUE(m.accept(id_of(*v, "ab")));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.finished());
  mk = mask_of(m);
  EXPECT_TRUE(bit(mk, 0));
  EXPECT_TRUE(bit(mk, id_of(*v, "c")));
  ASSERT_TRUE(m.accept(id_of(*v, "c")));
  EXPECT_TRUE(m.finished());  // complete and nothing can follow
  mk = mask_of(m);
  EXPECT_TRUE(bit(mk, 0));
  EXPECT_EQ(std::count_if(mk.begin(), mk.end(), [](uint32_t w) { return w != 0; }), 1);
  ASSERT_TRUE(m.accept(0));
  EXPECT_TRUE(m.finished());
  EXPECT_FALSE(m.can_end());
  EXPECT_FALSE(m.accept(id_of(*v, "c")));
  EXPECT_EQ(m.n_accepted(), 3u);
  m.rollback(2);
  EXPECT_EQ(m.n_accepted(), 1u);
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(bit(mask_of(m), id_of(*v, "c")));
  EXPECT_THROW(m.rollback(2), Error);
}

TEST(StructuredMatcher, MasksAgreeWithAcceptOnLlama3) {
  IGNIS_VOCAB_OR_SKIP(v, "llama3");
  std::string schema = R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},
    "age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"enum":["a","b c"]}}},
    "required":["name","age"],"additionalProperties":false})";
  auto c = st::compile(schema_spec(schema, true), v);
  std::mt19937 rng(3);
  st::Matcher m(c);
  std::vector<std::vector<uint32_t>> masks;
  for (int step = 0; step < 40 && !m.finished(); ++step) {
    auto mk = mask_of(m);
    masks.push_back(mk);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < v->size(); ++id)
      if (bit(mk, id)) allowed.push_back(id);
    ASSERT_FALSE(allowed.empty());
    // Every allowed token (up to 300 of them) is accepted; 300 random others are rejected.
    for (size_t k = 0; k < std::min<size_t>(allowed.size(), 300); ++k) {
      int32_t id = allowed.size() <= 300 ? allowed[k] : allowed[rng() % allowed.size()];
      ASSERT_TRUE(m.accept(id)) << "allowed token " << id << " rejected at step " << step;
      m.rollback(1);
    }
    for (int k = 0; k < 300; ++k) {
      int32_t id = static_cast<int32_t>(rng() % v->size());
      if (bit(mk, id)) continue;
      size_t before = m.n_accepted();
      ASSERT_FALSE(m.accept(id)) << "disallowed token " << id << " accepted at step " << step;
      ASSERT_EQ(m.n_accepted(), before);
    }
    ASSERT_EQ(mask_of(m), mk) << "accept/rollback changed the state";
    // Walk on with short tokens so the text stays small.
    int32_t pick = allowed[rng() % allowed.size()];
    for (int32_t id : allowed)
      if (v->bytes(id) && v->bytes(id)->size() <= 2 && rng() % 3 == 0) {
        pick = id;
        break;
      }
    ASSERT_TRUE(m.accept(pick));
  }
  // Rolling back to each earlier step gives that step's mask again.
  while (m.n_accepted() > 0) {
    m.rollback(1);
    ASSERT_EQ(mask_of(m), masks[m.n_accepted()]) << "after rollback to " << m.n_accepted();
  }
  auto stats = c->cache_stats();
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.entries, 0u);
}

// The whole mask equals accept() token by token (Mistral's 32k vocabulary), along a walk through
// keys, free strings, numbers and nested values.
TEST(StructuredMatcher, MaskEqualsAcceptForEveryToken) {
  IGNIS_VOCAB_OR_SKIP(v, "mistral");
  std::string schema = R"({"type":"object","properties":{"note":{"type":"string"},"n":{"type":"number"},
    "list":{"type":"array","items":{"anyOf":[{"type":"integer","minimum":-20,"maximum":300},{"type":"string","pattern":"^[a-c]+$"}]}}},
    "required":["note","n","list"]})";
  st::Matcher m(st::compile(schema_spec(schema), v));
  std::mt19937 rng(9);
  for (int step = 0; step < 24 && !m.finished(); ++step) {
    auto mk = mask_of(m);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < v->size(); ++id) {
      bool ok = m.accept(id);
      if (ok) {
        m.rollback(1);
        allowed.push_back(id);
      }
      ASSERT_EQ(ok, bit(mk, id)) << "token " << id << " at step " << step;
    }
    ASSERT_FALSE(allowed.empty());
    ASSERT_TRUE(m.accept(allowed[rng() % allowed.size()]));
  }
}

TEST(StructuredMatcher, CachedMasksEqualFreshOnes) {
  IGNIS_VOCAB_OR_SKIP(v, "llama3");
  auto spec_ = spec(st::ConstraintSpec::Kind::JsonObject, "");
  auto shared = st::compile(spec_, v);
  std::mt19937 rng(11);
  st::Matcher a(shared);
  std::vector<int32_t> path;
  for (int step = 0; step < 30 && !a.finished(); ++step) {
    auto mk = mask_of(a);
    // The same state in a fresh constraint (empty cache) gives the same mask.
    st::Matcher b(st::compile(spec_, v));
    for (int32_t id : path) ASSERT_TRUE(b.accept(id));
    ASSERT_EQ(mask_of(b), mk);
    ASSERT_EQ(mask_of(a), mk);  // second call: from the cache
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < v->size(); ++id)
      if (bit(mk, id) && v->bytes(id) && v->bytes(id)->size() <= 3) allowed.push_back(id);
    if (allowed.empty()) break;
    int32_t pick = allowed[rng() % allowed.size()];
    ASSERT_TRUE(a.accept(pick));
    path.push_back(pick);
  }
  EXPECT_GT(shared->cache_stats().hits, 10u);
}

TEST(StructuredMatcher, ThreadsShareOneConstraint) {
  IGNIS_VOCAB_OR_SKIP(v, "llama3");
  auto c = st::compile(regex_spec(R"([a-z]{1,8}(-[a-z]{1,8}){0,3})"), v);
  std::vector<std::vector<uint32_t>> first(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      std::mt19937 rng(5);  // same walk in every thread: same masks
      st::Matcher m(c);
      std::vector<uint32_t> all;
      for (int step = 0; step < 12 && !m.finished(); ++step) {
        auto mk = mask_of(m);
        all.insert(all.end(), mk.begin(), mk.end());
        std::vector<int32_t> allowed;
        for (int32_t id = 0; id < v->size(); ++id)
          if (bit(mk, id)) allowed.push_back(id);
        m.accept(allowed[rng() % allowed.size()]);
      }
      first[t] = std::move(all);
    });
  for (auto& th : ts) th.join();
  for (int t = 1; t < 4; ++t) EXPECT_EQ(first[t], first[0]);
}

TEST(StructuredMatcher, ConstraintCacheIsLru) {
  auto v = tiny_vocab();
  st::ConstraintCache cache(v, 2);
  auto a = cache.get(regex_spec("a+"));
  auto b = cache.get(regex_spec("b+"));
  EXPECT_EQ(cache.get(regex_spec("a+")), a);  // a is now the most recent
  auto c = cache.get(regex_spec("c+"));       // evicts b
  EXPECT_EQ(cache.get(regex_spec("a+")), a);
  EXPECT_NE(cache.get(regex_spec("b+")), b);
  EXPECT_NE(cache.get(grammar_spec("root ::= \"a\"+")), a);
  (void)c;
  EXPECT_THROW(cache.get(regex_spec("(a")), Error);
  EXPECT_EQ(cache.vocab(), v);
  // Different kinds or strictness with the same text are different keys.
  EXPECT_NE(schema_spec("{}", true).key(), schema_spec("{}", false).key());
  EXPECT_NE(regex_spec("x").key(), grammar_spec("x").key());
}

}  // namespace
}  // namespace ignis::test
