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

// Past the length budget the walk prefers single-byte tokens that close things, so that it ends:
// 0: } ] "   1: , :   2: other non-blank, non-opening   3: anything else.
int closing_rank(const std::string& b) {
  if (b.size() != 1) return 4;
  char c = b[0];
  if (c == '}' || c == ']' || c == '"') return 0;
  if (c == ',' || c == ':') return 1;
  if (c == ' ' || c == '\n' || c == '\t' || c == '{' || c == '[') return 3;
  return 2;
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
      int best = 5;
      std::vector<int32_t> pool;
      for (int32_t id : allowed) {
        if (v.is_end(id)) continue;
        int r = closing_rank(*v.bytes(id));
        if (r < best) best = r, pool.clear();
        if (r == best) pool.push_back(id);
      }
      pick = pool[rng() % pool.size()];
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
    auto c = st::compile(schema_spec(schema.dump(), strict), v);
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
TEST(StructuredRandomSchemas, WalksValidateOnLlama3Vocab) { run_schemas("llama3", 1000, 40, true); }

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
