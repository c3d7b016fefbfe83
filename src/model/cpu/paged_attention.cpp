#include "model/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "model/cpu/parallel.h"

namespace ignis::cpu {

namespace {

// Physical block of logical block `b`, checked.
// `what` and `seq` name the caller and the sequence for the error message.
inline int32_t block_of(const int32_t* table, int table_len, int b, int num_blocks, const char* what, int seq) {
  IGNIS_CHECK(b < table_len, "{} (sequence {}): needs logical block {} but its block table has {} entries", what, seq,
              b, table_len);
  int32_t id = table[b];
  IGNIS_CHECK(id >= 0 && id < num_blocks,
              "{} (sequence {}): logical block {} maps to block id {}, outside the KV pool [0, {})", what, seq, b, id,
              num_blocks);
  return id;
}

}  // namespace

void paged_kv_write(float* k_cache, float* v_cache, const PagedCacheShape& s, const float* k, const float* v,
                    const int32_t* block_table, int block_table_len, int start_pos, int n_tokens) {
  const int64_t row = int64_t(s.num_kv_heads) * s.head_dim;  // floats per token
  for (int t = 0; t < n_tokens; ++t) {
    int pos = start_pos + t;
    int32_t blk = block_of(block_table, block_table_len, pos / s.block_size, s.num_blocks, "paged kv write", 0);
    int64_t dst = (int64_t(blk) * s.block_size + pos % s.block_size) * row;
    std::memcpy(k_cache + dst, k + t * row, sizeof(float) * size_t(row));
    std::memcpy(v_cache + dst, v + t * row, sizeof(float) * size_t(row));
  }
}

void paged_attention(float* out, const float* q, const float* k_cache, const float* v_cache,
                     const PagedCacheShape& s, const AttnSeq* seqs, int n_seqs, const AttnParams& p) {
  IGNIS_CHECK(p.num_heads > 0 && s.num_kv_heads > 0 && p.num_heads % s.num_kv_heads == 0,
              "paged attention: num_heads {} is not a multiple of num_kv_heads {}", p.num_heads, s.num_kv_heads);
  const int group = p.num_heads / s.num_kv_heads;
  const int hd = s.head_dim;
  const int64_t q_row = int64_t(p.num_heads) * hd;
  const int64_t kv_row = int64_t(s.num_kv_heads) * hd;

  // Validate every block the batch reads before starting threads, so errors are clean.
  struct Item { int seq; int token; };  // token index within the sequence
  std::vector<Item> items;
  // Tree sequences: per token, its ancestors' token indices (root first, itself last), flattened.
  std::vector<std::vector<int32_t>> anc_off(static_cast<size_t>(n_seqs));
  std::vector<int32_t> anc;
  for (int si = 0; si < n_seqs; ++si) {
    const AttnSeq& sq = seqs[si];
    IGNIS_CHECK(sq.num_tokens >= 0 && sq.num_cached >= 0, "paged attention: sequence {} has negative lengths", si);
    int last = sq.num_cached + sq.num_tokens - 1;
    if (sq.num_tokens == 0) continue;
    int first = sq.num_cached;
    int lo = p.sliding_window > 0 ? std::max(0, first - p.sliding_window + 1) : 0;
    for (int b = lo / s.block_size; b <= last / s.block_size; ++b)
      block_of(sq.block_table, sq.block_table_len, b, s.num_blocks, "paged attention", si);
    for (int t = 0; t < sq.num_tokens; ++t) items.push_back({si, t});
    if (sq.tree_parent) {
      auto& off = anc_off[size_t(si)];
      off.resize(size_t(sq.num_tokens) + 1);
      IGNIS_CHECK(sq.tree_parent[0] == -1, "paged attention: sequence {} tree root has parent {} (need -1)", si,
                  sq.tree_parent[0]);
      std::vector<int32_t> path;
      for (int t = 0; t < sq.num_tokens; ++t) {
        IGNIS_CHECK(t == 0 || (sq.tree_parent[t] >= 0 && sq.tree_parent[t] < t),
                    "paged attention: sequence {} tree token {} has parent {} (need [0, {}))", si, t,
                    sq.tree_parent[t], t);
        path.clear();
        for (int a = t; a >= 0; a = a == 0 ? -1 : sq.tree_parent[a]) path.push_back(a);
        off[size_t(t)] = int32_t(anc.size());
        anc.insert(anc.end(), path.rbegin(), path.rend());
      }
      off[size_t(sq.num_tokens)] = int32_t(anc.size());
    }
  }

  const int64_t n_work = int64_t(items.size()) * p.num_heads;
  parallel_for(n_work, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    std::vector<int32_t> slots;  // the cache slots (logical positions in the block table) this query reads
    std::vector<double> acc(hd);
    for (int64_t w = begin; w < end; ++w) {
      const Item& it = items[w / p.num_heads];
      const int h = int(w % p.num_heads);
      const int kvh = h / group;
      const AttnSeq& sq = seqs[it.seq];
      slots.clear();
      if (!sq.tree_parent) {
        const int pos = sq.num_cached + it.token;
        const int lo = p.sliding_window > 0 ? std::max(0, pos - p.sliding_window + 1) : 0;
        for (int kp = lo; kp <= pos; ++kp) slots.push_back(kp);
      } else {
        const auto& off = anc_off[size_t(it.seq)];
        const int32_t* path = anc.data() + off[size_t(it.token)];
        const int len = off[size_t(it.token) + 1] - off[size_t(it.token)];  // depth + 1
        const int pos = sq.num_cached + len - 1;
        const int lo = p.sliding_window > 0 ? std::max(0, pos - p.sliding_window + 1) : 0;
        for (int kp = lo; kp < sq.num_cached; ++kp) slots.push_back(kp);
        for (int d = 0; d < len; ++d)
          if (sq.num_cached + d >= lo) slots.push_back(sq.num_cached + path[d]);
      }
      const int64_t tok = sq.token_offset + it.token;
      const float* qv = q + tok * q_row + int64_t(h) * hd;
      const int n = int(slots.size());
      scores.resize(n);
      float mx = -INFINITY;
      for (int j = 0; j < n; ++j) {
        int kp = slots[j];
        int64_t blk = sq.block_table[kp / s.block_size];
        const float* kv = k_cache + (blk * s.block_size + kp % s.block_size) * kv_row + int64_t(kvh) * hd;
        float d = 0.0f;
        for (int i = 0; i < hd; ++i) d += qv[i] * kv[i];
        scores[j] = d * p.scale;
        mx = std::max(mx, scores[j]);
      }
      double sum = 0.0;
      for (int j = 0; j < n; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int j = 0; j < n; ++j) {
        int kp = slots[j];
        int64_t blk = sq.block_table[kp / s.block_size];
        const float* vv = v_cache + (blk * s.block_size + kp % s.block_size) * kv_row + int64_t(kvh) * hd;
        double pj = scores[j] / sum;
        for (int i = 0; i < hd; ++i) acc[i] += pj * vv[i];
      }
      float* o = out + tok * q_row + int64_t(h) * hd;
      for (int i = 0; i < hd; ++i) o[i] = float(acc[i]);
    }
  });
}

}  // namespace ignis::cpu
