// Shared helpers for the structured-output tests: byte-level matching of a grammar without a
// vocabulary, spec shorthands, and the tokenizers the token-level tests use.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/error.h"
#include "structured/constraint.h"
#include "structured/pda.h"
#include "structured/structured.h"
#include "structured/vocab.h"
#include "tokenizer/tokenizer.h"

namespace ignis::test {

namespace st = ignis::structured;

inline st::ConstraintSpec spec(st::ConstraintSpec::Kind k, std::string text, bool strict = false) {
  st::ConstraintSpec s;
  s.kind = k;
  s.text = std::move(text);
  s.strict = strict;
  return s;
}
inline st::ConstraintSpec grammar_spec(std::string t) { return spec(st::ConstraintSpec::Kind::Grammar, std::move(t)); }
inline st::ConstraintSpec regex_spec(std::string t) { return spec(st::ConstraintSpec::Kind::Regex, std::move(t)); }
inline st::ConstraintSpec schema_spec(std::string t, bool strict = false) {
  return spec(st::ConstraintSpec::Kind::JsonSchema, std::move(t), strict);
}

// Whole-string match of `text` against a compiled grammar, byte by byte.
inline bool full_match(const st::Grammar& g, std::string_view text) {
  st::Pda pda(g);
  std::vector<st::Node> pool;
  st::PdaState s = pda.initial(pool), next;
  for (unsigned char b : text) {
    pda.advance(pool, s, b, next);
    if (!next.alive()) return false;
    std::swap(s, next);
  }
  return pda.can_end(pool, s);
}

// The error message of compiling `s`, "" when it compiles.
inline std::string compile_error(const st::ConstraintSpec& s) {
  try {
    st::compile_grammar(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline std::filesystem::path structured_tokenizer_dir(const std::string& name) {
  return std::filesystem::path(IGNIS_ASSETS_DIR) / ("tokenizer-" + name) / "models";
}

// nullptr when the npm assets are not fetched (callers GTEST_SKIP).
inline const Tokenizer* structured_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  if (!std::filesystem::exists(structured_tokenizer_dir(name) / "tokenizer.json")) return nullptr;
  return (cache[name] = Tokenizer::load(structured_tokenizer_dir(name))).get();
}

inline std::shared_ptr<const st::TokenVocab> structured_vocab(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const st::TokenVocab>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const Tokenizer* tok = structured_tokenizer(name);
  if (!tok) return nullptr;
  std::vector<int32_t> ends;
  if (tok->eos_id()) ends.push_back(*tok->eos_id());
  if (auto eot = tok->piece_to_id("<|eot_id|>"); eot && (ends.empty() || *eot != ends[0])) ends.push_back(*eot);
  return cache[name] = st::make_token_vocab(*tok, ends);
}

#define IGNIS_VOCAB_OR_SKIP(var, name)                                                        \
  auto var = ::ignis::test::structured_vocab(name);                                           \
  if (!var) GTEST_SKIP() << "tokenizer " << name << " not fetched (bash scripts/fetch-assets.sh)"

}  // namespace ignis::test
