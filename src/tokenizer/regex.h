// ignis tokenizer: PCRE2 (JIT) regex with the semantics HF `tokenizers` gets from
// Oniguruma for the pre-tokenizer patterns (\s = Unicode White_Space).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ignis::tok {

class Regex {
 public:
  // `literal`: match `pattern` as a plain string. Throws Error (with `what`) on a bad pattern.
  Regex(const std::string& pattern, bool literal, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // All non-overlapping matches, left to right, as [begin, end) byte offsets.
  // `s` must be valid UTF-8.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rewrites \s and \S so PCRE2 matches exactly Unicode White_Space as Oniguruma does
// (PCRE2's \s also takes U+180E). Exposed for tests.
std::string onig_compatible_pattern(const std::string& pattern);

}  // namespace ignis::tok
