// ignis structured: CompiledConstraint, the grammar of one ConstraintSpec against one vocabulary
// plus its mask cache (structured.h's opaque type).
#pragma once
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "structured/grammar.h"
#include "structured/pda.h"
#include "structured/structured.h"
#include "structured/vocab.h"

namespace ignis::structured {

class CompiledConstraint {
 public:
  CompiledConstraint(Grammar g, std::shared_ptr<const TokenVocab> vocab);
  CompiledConstraint(const CompiledConstraint&) = delete;
  CompiledConstraint& operator=(const CompiledConstraint&) = delete;

  const Pda& pda() const { return pda_; }
  const TokenVocab& vocab() const { return *vocab_; }

  // The mask of `s` (Matcher::fill_mask semantics), from the cache when the state's canonical key
  // was seen before. `pool` is the caller's node pool (restored on return).
  void fill_mask(std::vector<Node>& pool, const PdaState& s, uint32_t* bits) const;

  struct CacheStats {
    size_t hits = 0, misses = 0, entries = 0;
  };
  CacheStats cache_stats() const;

 private:
  void compute_mask(std::vector<Node>& pool, const PdaState& s, uint32_t* bits) const;

  Grammar g_;
  Pda pda_;
  std::shared_ptr<const TokenVocab> vocab_;
  size_t words_;
  // Masks by canonical state key; cleared when it holds more than kMaxCacheBytes.
  static constexpr size_t kMaxCacheBytes = size_t{256} << 20;
  mutable std::shared_mutex mu_;
  mutable std::unordered_map<std::string, std::vector<uint32_t>> masks_;
  mutable size_t hits_ = 0, misses_ = 0;
};

// Compiles a spec's text to a grammar only (no vocabulary): the front ends plus lowering.
Grammar compile_grammar(const ConstraintSpec& spec);

}  // namespace ignis::structured
