// 200+ random schemas: random walks over each one's token masks (uniform among the allowed
// tokens, seeded) on a real vocabulary must end with text that parses as JSON and validates
// against the schema. Compile time p50 is printed (not asserted).
#include <algorithm>
#include <chrono>
#include <random>

#include "common.h"
#include "schema_gen.h"
#include "schema_validate.h"

namespace ignis::test {
namespace {

// The shortest byte string that completes `text`. From the grammar: the least number of bytes
// each position's rest of alternative needs (a fixpoint over rules), a stack needs the sum over its
// frames, a state the least over its stacks; some byte always lowers that by one, so a greedy walk
// (closing bytes first among ties) finds it. Past its length budget a random walk follows it with
// single-byte tokens, so that every walk ends however the grammar is shaped.
std::string shortest_completion(const st::Pda& pda, const std::string& text) {
  const st::Grammar& g = pda.grammar();
  constexpr int64_t kInf = int64_t{1} << 40;
  std::vector<int64_t> rule_min(g.n_rules(), kInf), pos_min(g.elems.size(), kInf);
  auto rest = [&](size_t p) {  // bytes needed from p to its alternative's End
    int64_t n = 0;
    for (; g.elems[p].op != st::Grammar::Op::End; ++p)
      n += g.elems[p].op == st::Grammar::Op::Term ? 1 : rule_min[g.elems[p].arg];
    return std::min(n, kInf);
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.n_rules(); ++r)
      for (uint32_t a = g.alt_begin[r]; a < g.alt_begin[r + 1]; ++a)
        if (int64_t n = rest(g.alt_start[a]); n < rule_min[r]) rule_min[r] = n, changed = true;
  }
  for (size_t p = g.elems.size(); p-- > 0;)
    pos_min[p] = g.elems[p].op == st::Grammar::Op::End
                     ? 0
                     : std::min(kInf, (g.elems[p].op == st::Grammar::Op::Term ? 1 : rule_min[g.elems[p].arg]) + pos_min[p + 1]);
  std::vector<st::Node> pool;
  auto cost = [&](const st::PdaState& s) {
    int64_t best = s.done ? 0 : kInf;
    for (int32_t t : s.tops) {
      int64_t n = 0;
      for (int32_t k = t; k >= 0; k = pool[k].parent) n += pos_min[pool[k].pos];
      best = std::min(best, n);
    }
    return best;
  };
  st::PdaState s = pda.initial(pool), next, best_state;
  for (unsigned char b : text) {
    pda.advance(pool, s, b, next);
    if (!next.alive()) return "";
    std::swap(s, next);
  }
  std::vector<int> order;
  for (char c : std::string("}]\",:0")) order.push_back(static_cast<unsigned char>(c));
  for (int b = 0; b < 256; ++b)
    if (std::find(order.begin(), order.end(), b) == order.end()) order.push_back(b);
  std::string out;
  while (!pda.can_end(pool, s) && out.size() < 10000) {
    int64_t best = kInf;
    int best_b = -1;
    st::ByteSet nb = pda.next_bytes(pool, s);
    for (int b : order) {
      if (!nb.test(b)) continue;
      pda.advance(pool, s, static_cast<uint8_t>(b), next);
      if (!next.alive()) continue;
      if (int64_t c = cost(next); c < best) best = c, best_b = b, best_state = next;
    }
    if (best_b < 0) return "";
    out.push_back(static_cast<char>(best_b));
    s = best_state;
  }
  return out;
}

struct Walk {
  std::string text;
  std::vector<int32_t> ids;
  bool ended = false;
};

Walk random_walk(const std::shared_ptr<const st::CompiledConstraint>& c, const st::TokenVocab& v, uint32_t seed,
                 size_t budget, size_t cap) {
  std::mt19937 rng(seed);
  st::Matcher m(c);
  Walk w;
  std::vector<uint32_t> mask(st::Matcher::mask_words(v.size()));
  std::vector<int32_t> allowed;
  std::vector<int32_t> byte_token(256, -1);
  for (int32_t id = 0; id < v.size(); ++id)
    if (v.bytes(id) && v.bytes(id)->size() == 1 && byte_token[static_cast<unsigned char>((*v.bytes(id))[0])] < 0)
      byte_token[static_cast<unsigned char>((*v.bytes(id))[0])] = id;
  std::string completion;
  size_t completion_at = 0;
  while (w.ids.size() < cap) {
    m.fill_mask(mask.data());
    allowed.clear();
    for (size_t wi = 0; wi < mask.size(); ++wi)
      for (uint32_t bits = mask[wi]; bits; bits &= bits - 1) allowed.push_back(static_cast<int32_t>(wi * 32 + __builtin_ctz(bits)));
    EXPECT_FALSE(allowed.empty()) << "empty mask after '" << w.text << "'";
    if (allowed.empty()) break;
    int32_t pick;
    if (m.can_end() && (w.ids.size() >= budget || rng() % 4 == 0)) {
      pick = v.end_ids()[0];
    } else if (w.ids.size() >= budget) {
      if (completion_at >= completion.size()) {
        completion = shortest_completion(c->pda(), w.text);
        completion_at = 0;
        EXPECT_FALSE(completion.empty()) << "no completion of '" << w.text << "'";
        if (completion.empty()) break;
      }
      pick = byte_token[static_cast<unsigned char>(completion[completion_at++])];
      EXPECT_GE(pick, 0) << "no single-byte token for a completion byte";
      if (pick < 0) break;
    } else {
      pick = allowed[rng() % allowed.size()];
    }
    EXPECT_TRUE(m.accept(pick)) << "masked token " << pick << " rejected after '" << w.text << "'";
    if (v.is_end(pick)) {
      w.ended = true;
      break;
    }
    w.ids.push_back(pick);
    w.text += *v.bytes(pick);
  }
  return w;
}

void run_schemas(const std::string& vocab_name, uint32_t first_seed, int n, bool print_compile) {
  IGNIS_VOCAB_OR_SKIP(v, vocab_name);
  const Tokenizer* tok = structured_tokenizer(vocab_name);
  std::vector<double> compile_ms;
  int total_tokens = 0;
  for (uint32_t seed = first_seed; seed < first_seed + static_cast<uint32_t>(n); ++seed) {
    OJson schema = SchemaGen(seed).make();
    bool strict = seed % 2 == 0;
    auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const st::CompiledConstraint> c;
    try {
      c = st::compile(schema_spec(schema.dump(), strict), v);
    } catch (const Error& e) {
      FAIL() << "schema " << seed << " does not compile: " << e.what() << "\n" << schema.dump();
    }
    compile_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    for (uint32_t walk = 0; walk < 2; ++walk) {
      Walk w = random_walk(c, *v, seed * 7 + walk, 24, 600);
      total_tokens += static_cast<int>(w.ids.size());
      ASSERT_TRUE(w.ended) << "schema " << seed << " did not finish: " << schema.dump() << "\ntext: " << w.text;
      OJson value;
      try {
        value = OJson::parse(w.text);
      } catch (const std::exception& e) {
        FAIL() << "schema " << seed << ": output is not JSON (" << e.what() << "): " << w.text << "\nschema " << schema.dump();
      }
      std::string err = validate(value, schema, schema, strict);
      ASSERT_EQ(err, "") << "schema " << seed << (strict ? " (strict)" : "") << ": " << schema.dump() << "\noutput: " << w.text;
      // The mid-sequence bytes are what the tokenizer decodes after a prompt.
      if (vocab_name == "llama3") {
        ASSERT_EQ(tok->decode(w.ids), w.text);
      }
    }
  }
  std::sort(compile_ms.begin(), compile_ms.end());
  if (print_compile)
    printf("[structured] %d schemas on %s: compile p50 %.3f ms, p90 %.3f ms, max %.3f ms; %d tokens walked\n", n,
           vocab_name.c_str(), compile_ms[compile_ms.size() / 2], compile_ms[compile_ms.size() * 9 / 10], compile_ms.back(),
           total_tokens);
}

TEST(StructuredRandomSchemas, WalksValidateOnMistralVocab) { run_schemas("mistral", 0, 200, true); }
TEST(StructuredRandomSchemas, WalksValidateOnLlama3Vocab) { run_schemas("llama3", 1000, 100, true); }

TEST(StructuredRandomSchemas, GeneratedSetCoversTheKeywords) {
  std::string all;
  for (uint32_t seed = 0; seed < 200; ++seed) all += SchemaGen(seed).make().dump();
  for (const char* kw : {"\"properties\"", "\"required\"", "\"additionalProperties\"", "\"items\"", "\"prefixItems\"",
                         "\"minItems\"", "\"maxItems\"", "\"enum\"", "\"const\"", "\"minimum\"", "\"exclusiveMaximum\"",
                         "\"pattern\"", "\"format\"", "\"anyOf\"", "\"oneOf\"", "\"$ref\"", "#/$defs/tree", "\"maxLength\""})
    EXPECT_NE(all.find(kw), std::string::npos) << kw;
}

}  // namespace
}  // namespace ignis::test
