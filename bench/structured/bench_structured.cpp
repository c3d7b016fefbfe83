// Constrained-decoding host costs (not a timed test): schema compile time over the generated
// schema set, and fill_mask per token, cold (state not in the cache: the trie walk) and warm (a
// cached state: a copy), along random walks of a nested JSON schema.
//   bench_structured [tokenizer_dir] [n_schemas]   (default: assets/tokenizer-llama3/models, 200)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "schema_gen.h"
#include "structured/constraint.h"
#include "structured/structured.h"
#include "tokenizer/tokenizer.h"

using namespace ignis;
namespace st = ignis::structured;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void summary(const char* what, std::vector<double> v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  std::printf("%-34s n=%-5zu mean %8.3f ms  p50 %8.3f ms  p90 %8.3f ms  max %8.3f ms\n", what, v.size(), sum / v.size(),
              v[v.size() / 2], v[v.size() * 9 / 10], v.back());
}

const char* kSchema = R"({"type":"object","properties":{
  "id":{"type":"integer","minimum":1,"maximum":1000000},
  "name":{"type":"string","maxLength":40},
  "email":{"type":"string","format":"email"},
  "tags":{"type":"array","items":{"type":"string","enum":["admin","user","guest"]},"maxItems":4},
  "address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},
     "zip":{"type":"string","pattern":"^[0-9]{5}$"},"geo":{"type":"object","properties":{
       "lat":{"type":"number","minimum":-90,"maximum":90},"lon":{"type":"number","minimum":-180,"maximum":180}},
       "required":["lat","lon"]}},"required":["street","city"]},
  "active":{"type":"boolean"},
  "score":{"anyOf":[{"type":"number"},{"type":"null"}]}},
  "required":["id","name","address","active"]})";

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : std::string(IGNIS_ASSETS_DIR) + "/tokenizer-llama3/models";
  int n_schemas = argc > 2 ? std::atoi(argv[2]) : 200;
  auto tok = Tokenizer::load(dir);
  std::vector<int32_t> ends{*tok->eos_id()};
  if (auto eot = tok->piece_to_id("<|eot_id|>"); eot && *eot != ends[0]) ends.push_back(*eot);
  auto t0 = std::chrono::steady_clock::now();
  auto vocab = st::make_token_vocab(*tok, ends);
  std::printf("vocabulary: %s, %d tokens, trie %zu nodes, built in %.1f ms\n", dir.c_str(), vocab->size(),
              vocab->trie().size(), ms_since(t0));

  std::vector<double> compile;
  for (int seed = 0; seed < n_schemas; ++seed) {
    st::ConstraintSpec spec{st::ConstraintSpec::Kind::JsonSchema, ignis::test::SchemaGen(seed).make().dump(), seed % 2 == 0};
    auto c0 = std::chrono::steady_clock::now();
    auto c = st::compile(spec, vocab);
    compile.push_back(ms_since(c0));
  }
  summary("compile (generated schemas)", compile);

  st::ConstraintSpec spec{st::ConstraintSpec::Kind::JsonSchema, kSchema, true};
  auto c0 = std::chrono::steady_clock::now();
  auto shared = st::compile(spec, vocab);
  std::printf("compile (bench schema): %.3f ms\n", ms_since(c0));
  std::vector<double> cold, warm, all;
  std::vector<uint32_t> mask(st::Matcher::mask_words(vocab->size()));
  std::mt19937 rng(1);
  int tokens = 0;
  for (int walk = 0; walk < 20; ++walk) {
    st::Matcher m(shared);
    for (int step = 0; step < 200 && !m.finished(); ++step) {
      auto t = std::chrono::steady_clock::now();
      size_t misses = shared->cache_stats().misses;
      m.fill_mask(mask.data());
      double dt = ms_since(t);
      all.push_back(dt);
      (shared->cache_stats().misses > misses ? cold : warm).push_back(dt);
      std::vector<int32_t> allowed;
      for (size_t w = 0; w < mask.size(); ++w)
        for (uint32_t b = mask[w]; b; b &= b - 1) allowed.push_back(static_cast<int32_t>(w * 32 + __builtin_ctz(b)));
      // Short tokens past 60 steps, end as soon as allowed past 120: walks of realistic length.
      int32_t pick = allowed[rng() % allowed.size()];
      if (m.can_end() && step > 120) pick = ends[0];
      else if (step > 60)
        for (int k = 0; k < 50; ++k) {
          int32_t id = allowed[rng() % allowed.size()];
          auto b = tok->token_bytes(id);
          if (b && b->size() == 1) {
            pick = id;
            break;
          }
        }
      if (!m.accept(pick)) {
        std::fprintf(stderr, "masked token rejected\n");
        return 1;
      }
      ++tokens;
    }
  }
  summary("fill_mask cold (trie walk)", cold);
  summary("fill_mask warm (cached state)", warm);
  summary("fill_mask all tokens", all);
  // The worst case: a free string (every token without a quote, backslash or control byte fits),
  // on a fresh constraint each time so that the state is cold.
  std::vector<double> free_string;
  for (int rep = 0; rep < 10; ++rep) {
    st::ConstraintSpec obj{st::ConstraintSpec::Kind::JsonObject, "", false};
    st::Matcher m(st::compile(obj, vocab));
    for (int32_t id : tok->encode("{\"", false)) m.accept(id);
    auto t = std::chrono::steady_clock::now();
    m.fill_mask(mask.data());
    free_string.push_back(ms_since(t));
  }
  summary("fill_mask cold, free string state", free_string);
  auto st_ = shared->cache_stats();
  std::printf("%d tokens in 20 walks; cache: %zu states, %zu hits, %zu misses\n", tokens, st_.entries, st_.hits, st_.misses);
  return 0;
}
