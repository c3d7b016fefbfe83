// ignis rag: reciprocal rank fusion, retrieval mode names and citations.
#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "rag/index.h"

namespace ignis::rag {

std::vector<Fused> reciprocal_rank_fusion(const std::vector<std::int64_t>& dense,
                                          const std::vector<std::int64_t>& lexical, int k) {
  std::vector<Fused> out;
  std::unordered_map<std::int64_t, size_t> at;
  auto add = [&](const std::vector<std::int64_t>& list, bool is_dense) {
    for (size_t r = 0; r < list.size(); r++) {
      auto [it, fresh] = at.try_emplace(list[r], out.size());
      if (fresh) out.push_back(Fused{list[r], 0, 0, 0});
      Fused& f = out[it->second];
      int& rank = is_dense ? f.dense_rank : f.lexical_rank;
      if (rank != 0) continue;  // an id listed twice counts once, at its better rank
      rank = int(r) + 1;
      f.score += 1.0 / double(k + rank);
    }
  };
  add(dense, true);
  add(lexical, false);
  auto best = [](const Fused& f) {
    int a = f.dense_rank ? f.dense_rank : 1 << 30, b = f.lexical_rank ? f.lexical_rank : 1 << 30;
    return std::min(a, b);
  };
  std::sort(out.begin(), out.end(), [&](const Fused& a, const Fused& b) {
    if (a.score != b.score) return a.score > b.score;
    if (best(a) != best(b)) return best(a) < best(b);
    return a.id < b.id;
  });
  return out;
}

Retrieval parse_retrieval(const std::string& name) {
  if (name == "hybrid") return Retrieval::Hybrid;
  if (name == "dense") return Retrieval::Dense;
  if (name == "lexical") return Retrieval::Lexical;
  IGNIS_FAIL("unknown retrieval '{}' (expected hybrid, dense or lexical)", name);
}

const char* retrieval_name(Retrieval r) {
  switch (r) {
    case Retrieval::Hybrid: return "hybrid";
    case Retrieval::Dense: return "dense";
    case Retrieval::Lexical: return "lexical";
  }
  return "?";
}

std::string cite(const Hit& h) {
  std::string s = h.file;
  if (h.page > 0) s += fmt::format(", page {}", h.page);
  if (h.line > 0) s += fmt::format(", line {}", h.line);
  if (!h.heading.empty()) s += fmt::format(", \"{}\"", h.heading);
  if (!h.anchor.empty()) s += fmt::format(" at {}", h.anchor);
  return s;
}

}  // namespace ignis::rag
