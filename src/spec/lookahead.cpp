#include "spec/lookahead.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "spec/eagle.h"
#include "spec/medusa.h"

namespace ignis {

int lookahead_tree_size(int window, int ngram, int verify) {
  IGNIS_CHECK(window >= 1 && window <= 64, "--lookahead-window must be in [1, 64] (got {})", window);
  IGNIS_CHECK(ngram >= 2 && ngram <= 16, "--lookahead-ngram must be in [2, 16] (got {})", ngram);
  IGNIS_CHECK(verify >= 0 && verify <= 64, "--lookahead-verify must be in [0, 64] (got {})", verify);
  const int size = (window + verify) * (ngram - 1);
  IGNIS_CHECK(size <= 512,
              "lookahead: (W + G) * (N - 1) = ({} + {}) * ({} - 1) = {} tree tokens per step is more than 512; use a "
              "smaller --lookahead-window, --lookahead-verify or --lookahead-ngram",
              window, verify, ngram, size);
  return size;
}

int spec_max_proposals(const SpecConfig& c) {
  if (c.method == SpecMethod::Lookahead)
    return lookahead_tree_size(c.lookahead_window, c.lookahead_ngram, c.lookahead_verify);
  if (c.method == SpecMethod::Medusa) return medusa_tree_size(c);
  if (c.method == SpecMethod::Eagle) return eagle_tree_size(c.eagle_total_tokens, c.eagle_depth, c.eagle_topk);
  return c.num_speculative_tokens;
}

void check_lookahead_request(const SpecConfig& c, const LookaheadParams& r) {
  if (!r.set()) return;
  IGNIS_CHECK(c.method == SpecMethod::Lookahead,
              "request: lookahead parameters need an engine with --speculative lookahead (it runs {})",
              spec_method_name(c.method));
  try {
    lookahead_tree_size(r.window, r.ngram, r.verify);
  } catch (const Error& e) {
    IGNIS_FAIL("request: lookahead parameters (W {}, N {}, G {}): {}", r.window, r.ngram, r.verify, e.what());
  }
  IGNIS_CHECK(r.window <= c.lookahead_window && r.ngram <= c.lookahead_ngram && r.verify <= c.lookahead_verify,
              "request: lookahead (W {}, N {}, G {}) exceeds the engine's (W {}, N {}, G {}): each must be at most "
              "the engine's",
              r.window, r.ngram, r.verify, c.lookahead_window, c.lookahead_ngram, c.lookahead_verify);
}

LookaheadProposer::LookaheadProposer(int window, int ngram, int verify) : W_(window), N_(ngram), G_(verify) {
  lookahead_tree_size(window, ngram, verify);
}

void LookaheadProposer::propose_one(const SpecSeq& s, State& st, Proposal& out) const {
  out.clear();
  st.la_first = -1;
  if (s.k <= 0 || s.tokens.empty()) return;
  const LookaheadParams want = s.lookahead.set() ? s.lookahead : LookaheadParams{W_, N_, G_};
  if (st.W != want.window || st.N != want.ngram || st.G != want.verify) {
    st = State{};
    st.W = want.window, st.N = want.ngram, st.G = want.verify;
  }
  const int W = st.W, levels = st.N - 1, la_nodes = W * levels;
  if (st.window.empty()) {
    // The paper starts the window from random tokens; these come from the sequence itself
    // (deterministically), so the first guesses are at least plausible tokens.
    st.window.resize(size_t(la_nodes));
    uint64_t h = 0x9e3779b97f4a7c15ull ^ s.tokens.size();
    for (auto& t : st.window) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      t = s.tokens[size_t((h >> 33) % s.tokens.size())];
    }
  }
  const bool with_la = s.k >= la_nodes + (st.G > 0 ? 1 : 0);
  const int verify_budget = with_la ? s.k - la_nodes : s.k;
  // Verification branch: the pool's n-grams after the last token, as a trie.
  if (auto it = st.pool.find(s.tokens.back()); it != st.pool.end()) {
    std::map<std::pair<int32_t, int32_t>, int32_t> child;  // (parent, token) -> node
    for (const auto& gram : it->second) {
      int32_t parent = -1;
      for (int32_t t : gram) {
        auto [c, fresh] = child.try_emplace({parent, t}, int32_t(out.tokens.size()));
        if (fresh) {
          if (int(out.tokens.size()) >= verify_budget) {
            child.erase(c);
            break;
          }
          out.tokens.push_back(t);
          out.parents.push_back(parent);
        }
        parent = c->second;
      }
    }
  }
  if (!with_la) return;
  // Lookahead branch: node (l, j) at la_first + l * W + j.
  const int first = int(out.tokens.size());
  st.la_first = first;
  out.observe = true;
  for (int l = 0; l < levels; ++l)
    for (int j = 0; j < W; ++j) {
      out.tokens.push_back(st.window[size_t(l * W + j)]);
      out.parents.push_back(l == 0 ? (j == 0 ? -1 : first + j - 1) : first + (l - 1) * W + j);
    }
}

void LookaheadProposer::observe(State& st, std::span<const int32_t> row_tokens) const {
  if (st.la_first < 0) return;
  const int W = st.W, levels = st.N - 1;
  IGNIS_CHECK(row_tokens.size() >= size_t(1 + st.la_first + levels * W),
              "lookahead: {} row tokens for a proposal with {} lookahead nodes after {}", row_tokens.size(),
              levels * W, st.la_first);
  auto out_at = [&](int l, int j) { return row_tokens[size_t(1 + st.la_first + l * W + j)]; };
  for (int j = 0; j < W; ++j) {
    const int32_t top = out_at(levels - 1, j);
    if (top < 0) continue;
    if (st.G > 0) {  // the column's trajectory, then the top level's output: an n-gram for the pool
      std::vector<int32_t> tail;
      for (int l = 1; l < levels; ++l) tail.push_back(st.window[size_t(l * W + j)]);
      tail.push_back(top);
      auto& grams = st.pool[st.window[size_t(j)]];
      if (auto dup = std::find(grams.begin(), grams.end(), tail); dup != grams.end()) grams.erase(dup);
      grams.push_front(std::move(tail));
      if (int(grams.size()) > st.G) grams.pop_back();
      ++st.collected;
    }
  }
  // The Jacobi step: every level moves down one, the top level takes the top level's outputs.
  for (int l = 0; l + 1 < levels; ++l)
    std::copy_n(st.window.begin() + long((l + 1) * W), W, st.window.begin() + long(l * W));
  for (int j = 0; j < W; ++j)
    if (int32_t top = out_at(levels - 1, j); top >= 0) st.window[size_t((levels - 1) * W + j)] = top;
  st.la_first = -1;
}

void LookaheadProposer::propose(std::span<const SpecSeq> seqs, const KvCacheManager&, std::vector<Proposal>& out) {
  out.resize(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) propose_one(seqs[i], seqs_[seqs[i].id], out[i]);
}

void LookaheadProposer::on_rows(uint64_t id, std::span<const int32_t> row_tokens) {
  if (auto it = seqs_.find(id); it != seqs_.end()) observe(it->second, row_tokens);
}

}  // namespace ignis
