// ignis structured output: the public API of constrained decoding (issue 22 items 1-2).
//
// A request's constraint (JSON object, JSON schema, regular expression, context-free grammar) is
// compiled once per tokenizer into a CompiledConstraint (immutable, shared between requests and
// threads, cached by ConstraintSpec::key()). Each request holds a Matcher: the parser state after
// the tokens generated so far. Before each sampling step the engine asks the matcher for the mask
// of allowed tokens (a bitmask over the vocabulary), the sampler (CPU or GPU) sets every other
// logit to -inf, and the sampled token is fed back with accept().
//
// Dependencies: core, tokenizer. Nothing here knows about requests, engines or devices.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ignis {
class Tokenizer;
}

namespace ignis::structured {

// What a request asks for, as the server parsed it.
struct ConstraintSpec {
  enum class Kind : uint8_t {
    JsonObject,  // response_format {"type": "json_object"}: any JSON object
    JsonSchema,  // response_format json_schema / guided_json: text = the schema (JSON text)
    Regex,       // guided_regex: text = the pattern (Python `re` subset, whole-string match)
    Grammar,     // guided_grammar: text = EBNF in the GBNF form (`root ::= ...`)
  };
  Kind kind = Kind::JsonObject;
  std::string text;
  // json_schema "strict": true -> objects admit no properties beyond `properties` unless
  // additionalProperties says otherwise (false: additionalProperties defaults to true as in JSON Schema).
  bool strict = false;
  // Canonical cache key (kind + strict + text).
  std::string key() const;
};

// The model's vocabulary as byte strings, built once per tokenizer. `end_ids` are the tokens that
// end generation (eos and the request's stop ids are handled by the engine; these are the ids the
// mask allows once the constraint is complete).
class TokenVocab;
std::shared_ptr<const TokenVocab> make_token_vocab(const Tokenizer& tok, std::vector<int32_t> end_ids);

class CompiledConstraint;

// Compiles `spec` against `vocab`. Throws ignis::Error with a message that names what is wrong or
// unsupported (e.g. "json_schema: unsupported keyword 'patternProperties'", a regex or grammar
// syntax error with its position); the server turns that into a 400.
std::shared_ptr<const CompiledConstraint> compile(const ConstraintSpec& spec, std::shared_ptr<const TokenVocab> vocab);

// A thread-safe LRU cache of compiled constraints, keyed by spec.key(), for one vocabulary.
class ConstraintCache {
 public:
  ConstraintCache(std::shared_ptr<const TokenVocab> vocab, size_t capacity = 256);
  ~ConstraintCache();
  std::shared_ptr<const CompiledConstraint> get(const ConstraintSpec& spec);  // compiles on a miss; throws as compile
  const std::shared_ptr<const TokenVocab>& vocab() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The cache of one served model: its tokenizer's vocabulary with `end_ids` (the model's
// end-of-sequence ids; empty -> the tokenizer's eos; duplicates dropped). `ignis serve` and
// `ignis bench --json-schema` both build theirs here, so both compile a constraint alike.
std::unique_ptr<ConstraintCache> make_constraint_cache(const Tokenizer& tok, std::vector<int32_t> end_ids,
                                                       size_t capacity = 256);

// Per-request parser state. Not thread-safe; one per sequence.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledConstraint> c);
  ~Matcher();
  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;

  int vocab_size() const;
  static size_t mask_words(int vocab) { return (static_cast<size_t>(vocab) + 31) / 32; }
  // bits: mask_words(vocab_size()) words; bit (id % 32) of word id / 32 set = token `id` allowed
  // now. End ids are allowed exactly when the text so far is a complete match. Never all zero
  // while !finished().
  void fill_mask(uint32_t* bits) const;
  // Advances by one sampled token. Returns false (state unchanged) when the token is not allowed.
  // An end id is accepted only when complete, and makes finished() true.
  bool accept(int32_t token);
  // Undoes the last n accepted tokens (speculative decoding rolls back rejected proposals).
  void rollback(size_t n);
  size_t n_accepted() const;
  // The text so far is a complete match (an end id would be accepted).
  bool can_end() const;
  // An end id was accepted, or the match is complete and nothing can follow it.
  bool finished() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ignis::structured
