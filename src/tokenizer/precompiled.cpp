#include "tokenizer/precompiled.h"

#include <unicode/ubrk.h>
#include <unicode/ustring.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace ignis::tok {

std::string base64_decode(std::string_view in, const std::string& what) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  IGNIS_CHECK(in.size() % 4 != 1, "{}: invalid base64 length", what);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    IGNIS_CHECK(v >= 0, "{}: invalid base64 character '{}'", what, c);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

PrecompiledCharsMap::PrecompiledCharsMap(std::string_view blob, const std::string& file) {
  IGNIS_CHECK(blob.size() >= 4, "{}: Precompiled normalizer: precompiled_charsmap is shorter than its header", file);
  uint32_t trie_size;
  std::memcpy(&trie_size, blob.data(), 4);  // little-endian (x86 / arm64)
  IGNIS_CHECK(trie_size % 4 == 0 && trie_size >= 4 && trie_size <= blob.size() - 4,
              "{}: Precompiled normalizer: bad trie size {} in a {}-byte precompiled_charsmap", file, trie_size,
              blob.size());
  units_.resize(trie_size / 4);
  std::memcpy(units_.data(), blob.data() + 4, trie_size);
  normalized_.assign(blob.substr(4 + trie_size));
  IGNIS_CHECK(is_valid_utf8(normalized_), "{}: Precompiled normalizer: replacement strings are not valid UTF-8", file);
}

// darts-clone unit layout: bits 0-7 label (bit 31 set for a value unit), bit 8 has_leaf,
// bit 9 offset shift, bits 10-31 offset.
std::optional<std::string_view> PrecompiledCharsMap::transform(std::string_view chunk) const {
  auto offset = [](uint32_t u) -> size_t { return (u >> 10) << ((u & (1u << 9)) >> 6); };
  size_t pos = offset(units_[0]);
  for (unsigned char c : chunk) {
    if (c == 0) break;
    pos ^= c;
    if (pos >= units_.size()) return std::nullopt;
    uint32_t u = units_[pos];
    if ((u & ((1u << 31) | 0xFFu)) != c) return std::nullopt;
    pos ^= offset(u);
    if ((u >> 8) & 1) {
      if (pos >= units_.size()) return std::nullopt;
      size_t idx = units_[pos] & ((1u << 31) - 1);
      if (idx >= normalized_.size()) return std::nullopt;
      size_t end = normalized_.find('\0', idx);
      if (end == std::string::npos) end = normalized_.size();
      return std::string_view(normalized_).substr(idx, end - idx);
    }
  }
  return std::nullopt;
}

std::string PrecompiledCharsMap::normalize(std::string_view s) const {
  std::string out;
  out.reserve(s.size());
  auto per_char = [&](std::string_view g) {
    for (size_t i = 0; i < g.size();) {
      size_t b = i;
      next_code_point(g, i);
      std::string_view part = g.substr(b, i - b);
      if (auto r = transform(part)) out.append(*r);
      else out.append(part);
    }
  };
  // Grapheme clusters through ICU (UTF-16), cut back into the UTF-8 input by code point counts.
  UErrorCode st = U_ZERO_ERROR;
  int32_t n16 = 0;
  u_strFromUTF8(nullptr, 0, &n16, s.data(), static_cast<int32_t>(s.size()), &st);
  std::vector<UChar> u16(n16 + 1);
  st = U_ZERO_ERROR;
  u_strFromUTF8(u16.data(), n16 + 1, nullptr, s.data(), static_cast<int32_t>(s.size()), &st);
  IGNIS_CHECK(U_SUCCESS(st), "Precompiled normalizer: invalid UTF-8 input ({})", u_errorName(st));
  st = U_ZERO_ERROR;
  UBreakIterator* bi = ubrk_open(UBRK_CHARACTER, "", u16.data(), n16, &st);
  IGNIS_CHECK(U_SUCCESS(st) && bi, "Precompiled normalizer: ICU grapheme iterator unavailable ({})", u_errorName(st));
  size_t pos8 = 0;
  int32_t prev16 = 0;
  for (int32_t b = ubrk_next(bi); b != UBRK_DONE; b = ubrk_next(bi)) {
    size_t start8 = pos8;
    for (int32_t k = prev16; k < b;) {  // advance pos8 over the cluster's code points
      UChar32 c;
      U16_NEXT(u16.data(), k, b, c);
      (void)c;
      next_code_point(s, pos8);
    }
    prev16 = b;
    std::string_view g = s.substr(start8, pos8 - start8);
    if (g.size() < 6)
      if (auto r = transform(g)) {
        out.append(*r);
        continue;
      }
    per_char(g);
  }
  ubrk_close(bi);
  return out;
}

namespace {

class Precompiled : public Normalizer {
 public:
  explicit Precompiled(std::unique_ptr<PrecompiledCharsMap> m) : m_(std::move(m)) {}
  void normalize(std::string& s) const override {
    if (m_ && !s.empty()) s = m_->normalize(s);
  }

 private:
  std::unique_ptr<PrecompiledCharsMap> m_;  // null: identity
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled_normalizer(const nlohmann::json& j, const std::string& file) {
  const auto& cm = j.contains("precompiled_charsmap") ? j["precompiled_charsmap"] : nlohmann::json();
  if (cm.is_null()) return std::make_unique<Precompiled>(nullptr);
  IGNIS_CHECK(cm.is_string(), "{}: Precompiled normalizer: precompiled_charsmap must be a base64 string", file);
  std::string blob = base64_decode(cm.get<std::string>(), file + ": Precompiled normalizer precompiled_charsmap");
  if (blob.empty()) return std::make_unique<Precompiled>(nullptr);
  return std::make_unique<Precompiled>(std::make_unique<PrecompiledCharsMap>(blob, file));
}

}  // namespace ignis::tok
