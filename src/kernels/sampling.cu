// ignis kernels: GPU sampling, one thread block per logit row (semantics: kernels/sampling.h).
//
// Order keys: key(x, id) = ordered_bits(x) << 32 | (0xFFFFFFFF - id), so "higher logit first, ties to the
// lower id" is plain descending 64-bit order and every key of a row is unique (-0 counts as +0).
// Weights w = exp((x - lmax) / T) are computed in double (like the host, so top-p and min-p cuts agree
// with it up to rounding at the cut itself) and summed as fixed point: fx = rn(w * 2^45), at most 2^45
// each, so a row of up to 2^18 tokens sums to at most 2^63. Integer sums do not depend on thread order.
//
// Passes over a row (vocab reads each), in order:
//   A   raw row: NaN / +inf check, max key, unmasked count, online logsumexp (when logprobs are asked)
//   N   top-n (n >= 2): radix select of the n-th raw key, then one gather pass
//   pen sparse: save raw values of pen ids and bias ids (pen_orig, bias_orig); dense when the row has an
//       allowed mask: tokens outside it -> -inf; bad ids -> -inf, bias ids += bias, penalties on pen ids
//   C   penalized row (only when penalties / bad ids / biases changed it): max key, unmasked count
//   greedy: done (token = id of the max key)
//   K   top-k (1 < k < unmasked): radix select by count
//   P   top-p (< 1): radix select by fixed-point weight inside the top-k set
//   S   one pass: per-thread contiguous chunk sums of kept weights, a block scan, then one warp
//       walks the (<= 256 ids) chunk holding u * total (inverse CDF in ascending id order)
// Radix select: 8-bit digits from the top of the key, a shared histogram per digit (warp-aggregated
// with __match_any_sync), stopping as soon as the selected bucket holds a single element: about 3
// passes on continuous fp32 logits (the first digit, sign + high exponent bits, rarely splits much),
// up to 8 when many logits are equal (the id digits break the ties).
#include <cmath>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/sampling.h"

namespace ignis::kernels {

namespace {

using u64 = unsigned long long;
constexpr int kThreads = 1024;  // one block per row
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 4;  // row elements loaded per thread per loop step (strided, coalesced)
constexpr unsigned kFull = 0xffffffffu;
constexpr double kFixedOne = 35184372088832.0;  // 2^45: fixed-point weight of the most likely token

struct Smem {
  u64 val[256];   // (256) per-bucket sum of values: counts or fixed-point weights
  u64 bkey[256];  // (256) a key that fell into the bucket: the only one when the bucket holds one
  unsigned cnt[256];  // (256) per-bucket element count (weight mode)
  u64 red[kWarps];    // (warps) reduction / scan scratch
  u64 top[kMaxTopLogprobs];  // gathered top-n keys
  u64 sel_above;      // value sum of the buckets above the selected one
  u64 win_base;       // S: cumulative weight before the winning chunk
  int sel_bucket;
  int ntop;
  int win;            // S: thread whose chunk holds the target (-1: none)
  int token;
  float raw;          // raw logit of the sampled token
};

__device__ __forceinline__ uint32_t ordered_bits(float x) {
  const uint32_t u = __float_as_uint(x == 0.0f ? 0.0f : x);  // -0 -> +0: equal logits tie by id
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ u64 make_key(float x, int id) {
  return (u64(ordered_bits(x)) << 32) | u64(0xFFFFFFFFu - uint32_t(id));
}
__device__ __forceinline__ int key_id(u64 k) { return int(0xFFFFFFFFu - uint32_t(k)); }
__device__ __forceinline__ float key_value(u64 k) {
  const uint32_t o = uint32_t(k >> 32);
  return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

// Host-identical weight exp((x - lmax) / T) in double; 0 for -inf.
__device__ __forceinline__ double weight(float x, float lmax, double inv_t) {
  return x == -INFINITY ? 0.0 : exp((double(x) - double(lmax)) * inv_t);
}
__device__ __forceinline__ u64 to_fixed(double w) { return __double2ull_rn(w * kFixedOne); }

// Calls f(j, x, in_row) for j = tid, tid + kThreads, ...: every thread makes the same number of calls,
// so f may use full-warp intrinsics. row is read with plain loads (the block writes it in between).
template <class F>
__device__ __forceinline__ void for_row(const float* row, int vocab, F&& f) {
  for (int base = 0; base < vocab; base += kItems * kThreads) {
    float x[kItems];
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int j = base + k * kThreads + int(threadIdx.x);
      x[k] = j < vocab ? row[j] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int j = base + k * kThreads + int(threadIdx.x);
      f(j, x[k], j < vocab);
    }
  }
}

// Deterministic block reduction (fixed shuffle tree + fixed order over warps); all threads get it.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, Smem& s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFull, v, o));
  T* red = reinterpret_cast<T*>(s.red);
  __syncthreads();  // red[] may still be read by a previous call
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = red[0];
  for (int i = 1; i < kWarps; ++i) v = op(v, red[i]);
  return v;
}
struct MaxOp {
  template <class T> __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};
struct SumOp {
  template <class T> __device__ T operator()(T a, T b) const { return a + b; }
};

// Exclusive block scan of u64 in thread order; total = sum over the block.
__device__ __forceinline__ u64 block_excl_scan(u64 v, Smem& s, u64& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 t = __shfl_up_sync(kFull, incl, o);
    if (lane >= o) incl += t;
  }
  __syncthreads();
  if (lane == 31) s.red[warp] = incl;
  __syncthreads();
  u64 before = 0, tot = 0;
  for (int i = 0; i < kWarps; ++i) {
    before += i < warp ? s.red[i] : 0;
    tot += s.red[i];
  }
  total = tot;
  return before + incl - v;
}

// Adds value v of `key` to bucket b (b < 0: nothing) with one shared atomic per distinct bucket per warp.
// All 32 lanes must call it together.
template <bool kWeighted>
__device__ __forceinline__ void hist_add(Smem& s, int b, u64 key, u64 v) {
  if (!__any_sync(kFull, b >= 0)) return;  // common after the first digit: nothing of this warp matches
  const unsigned peers = __match_any_sync(kFull, b);
  if (b < 0) return;
  const bool leader = int(threadIdx.x & 31) == __ffs(peers) - 1;
  if constexpr (kWeighted) {
    // v <= 2^45: 23 + 23 bits, so 32 lanes of either half fit 32 bits
    const unsigned lo = __reduce_add_sync(peers, unsigned(v & 0x7FFFFFu));
    const unsigned hi = __reduce_add_sync(peers, unsigned(v >> 23));
    if (leader) {
      atomicAdd(&s.val[b], (u64(hi) << 23) + lo);
      atomicAdd(&s.cnt[b], unsigned(__popc(peers)));
      s.bkey[b] = key;  // racy unless the bucket ends with one element, the only case it is read
    }
  } else if (leader) {
    atomicAdd(&s.val[b], u64(__popc(peers)));
    s.bkey[b] = key;
  }
}

struct Cut {
  u64 key;  // threshold key: kept iff key >= this
  u64 cum;  // value sum of the selected elements with key >= threshold
};

// Radix select over the selected elements (value(j, x, key) != 0) walked in descending key order.
// Count mode (value 1): the key of rank `target` (1 = largest; target <= selected count).
// Weight mode (value = fixed-point weight): the first key at which the running weight reaches
// ceil(frac * total). 8-bit digits, most significant first; stops when the chosen bucket holds one.
template <bool kWeighted, class V>
__device__ Cut radix_select(Smem& s, const float* row, int vocab, u64 target, double frac, V value) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 prefix = 0, mask = 0, acc = 0;  // acc: value sum of selected keys above the current prefix range
  for (int shift = 56;; shift -= 8) {
    __syncthreads();  // readers of the previous histogram are done
    for (int i = threadIdx.x; i < 256; i += kThreads) {
      s.val[i] = 0;
      s.cnt[i] = 0;
    }
    __syncthreads();
    for_row(row, vocab, [&](int j, float x, bool in_row) {
      const u64 key = in_row ? make_key(x, j) : 0;
      const u64 v = in_row && (key & mask) == prefix ? value(j, x, key) : 0;
      hist_add<kWeighted>(s, v ? int((key >> shift) & 255) : -1, key, v);
    });
    __syncthreads();
    if (warp == 0) {  // lane l owns buckets 255 - 8l down to 248 - 8l
      u64 local = 0;
      for (int i = 0; i < 8; ++i) local += s.val[255 - 8 * lane - i];
      u64 incl = local;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const u64 t = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += t;
      }
      if (kWeighted && shift == 56) {  // first digit: the histogram holds the whole set
        const u64 total = __shfl_sync(kFull, incl, 31);
        const double t = ceil(frac * double(total));
        target = t < 1.0 ? 1 : (t >= double(total) ? total : u64(t));
      }
      const u64 need = target - acc;  // > 0
      const unsigned hit = __ballot_sync(kFull, incl >= need);
      const unsigned nonempty = __ballot_sync(kFull, local != 0);
      // no hit only if the set is smaller than target (never, for valid input): take the lowest bucket
      const int owner = hit ? __ffs(hit) - 1 : (nonempty ? 31 - __clz(nonempty) : 31);
      if (lane == owner) {
        const u64 goal = hit ? need : incl;
        u64 c = incl - local;
        int b = 255 - 8 * lane;
        for (int i = 0; i < 8; ++i) {
          b = 255 - 8 * lane - i;
          if (c + s.val[b] >= goal) break;
          c += s.val[b];
        }
        s.sel_bucket = b;
        s.sel_above = c;
      }
    }
    __syncthreads();
    const int b = s.sel_bucket;
    acc += s.sel_above;
    prefix |= u64(b) << shift;
    mask |= u64(0xFF) << shift;
    const u64 n = kWeighted ? u64(s.cnt[b]) : s.val[b];
    if (n <= 1 || shift == 0) return {s.bkey[b], acc + s.val[b]};
  }
}

__global__ void __launch_bounds__(kThreads, 1)
    sample_rows_kernel(const SampleRow* __restrict__ rows, float* logits, int vocab, SampleLists lists, SampleOut out) {
  __shared__ Smem s;
  const int r = blockIdx.x, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const SampleRow p = rows[r];
  float* row = logits + size_t(r) * vocab;  // (vocab) this row, modified in place
  const bool want_lp = p.num_logprobs >= 0;
  const int n_top = min(min(p.num_logprobs, kMaxTopLogprobs), vocab);
  const bool rep = p.repetition_penalty != 1.0f;
  const bool freq_pres = p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  const bool masked = p.mask_row >= 0 && lists.allowed != nullptr;
  const bool modifies = masked || p.bad_count > 0 || p.bias_count > 0 || (p.pen_count > 0 && (rep || freq_pres));

  auto finish = [&](int32_t status, int token, float logprob) {
    if (tid == 0) {
      out.token[r] = token;
      if (out.logprob) out.logprob[r] = want_lp ? logprob : 0.0f;
      if (out.status) out.status[r] = status;
    }
  };

  // --- A: raw row ---
  bool bad = false;
  u64 kmax = 0;
  int n_unmasked = 0;
  float m = -INFINITY, se = 0.0f;  // online logsumexp over this thread's finite logits
  for_row(row, vocab, [&](int j, float x, bool in_row) {
    if (!in_row) return;
    if (x != x || x == INFINITY) {
      bad = true;
      return;
    }
    kmax = max(kmax, make_key(x, j));
    if (x == -INFINITY) return;
    ++n_unmasked;
    if (want_lp) {
      if (x > m) {
        se = se * expf(m - x) + 1.0f;
        m = x;
      } else {
        se += expf(x - m);
      }
    }
  });
  if (block_reduce(int(bad), MaxOp{}, s)) return finish(kSampleBadLogit, 0, 0.0f);
  kmax = block_reduce(kmax, MaxOp{}, s);
  n_unmasked = block_reduce(n_unmasked, SumOp{}, s);
  float lse = 0.0f;
  if (want_lp) {
    const float mb = block_reduce(m, MaxOp{}, s);
    if (mb == -INFINITY) return finish(kSampleAllMasked, 0, 0.0f);
    lse = mb + logf(block_reduce(m == -INFINITY ? 0.0f : se * expf(m - mb), SumOp{}, s));
  }

  // --- N: top-n raw alternatives ---
  if (n_top > 0) {
    __syncthreads();
    if (n_top == 1) {
      if (tid == 0) s.top[0] = kmax;
    } else {
      const u64 thr = radix_select<false>(s, row, vocab, u64(n_top), 0.0,
                                          [](int, float, u64) -> u64 { return 1; }).key;
      __syncthreads();
      if (tid == 0) s.ntop = 0;
      __syncthreads();
      for_row(row, vocab, [&](int j, float x, bool in_row) {
        if (!in_row) return;
        const u64 k = make_key(x, j);
        if (k >= thr) {
          const int slot = atomicAdd(&s.ntop, 1);
          if (slot < kMaxTopLogprobs) s.top[slot] = k;
        }
      });
    }
    __syncthreads();
    if (tid < n_top && out.top_ids && out.top_logprobs) {
      const u64 k = s.top[tid];
      int rank = 0;
      for (int i = 0; i < n_top; ++i) rank += s.top[i] > k;
      out.top_ids[size_t(r) * kMaxTopLogprobs + rank] = key_id(k);
      out.top_logprobs[size_t(r) * kMaxTopLogprobs + rank] = key_value(k) - lse;
    }
  }

  // --- penalties (sparse), in the host's order: bad ids, logit bias, then repetition / frequency / presence ---
  u64 kpen = kmax;  // max key of the penalized row
  if (modifies) {
    for (int i = tid; i < p.pen_count; i += kThreads)
      lists.pen_orig[p.pen_begin + i] = row[lists.pen_ids[p.pen_begin + i]];
    for (int i = tid; i < p.bias_count; i += kThreads)
      lists.bias_orig[p.bias_begin + i] = row[lists.bias_ids[p.bias_begin + i]];
    __syncthreads();
    if (masked) {  // constrained decoding: the sampled token is always allowed, so its raw logit survives
      const uint32_t* allowed = lists.allowed + size_t(p.mask_row) * size_t(lists.mask_words);
      for (int j = tid; j < vocab; j += kThreads)
        if (!((allowed[j >> 5] >> (j & 31)) & 1u)) row[j] = -INFINITY;
      __syncthreads();
    }
    for (int i = tid; i < p.bad_count; i += kThreads) row[lists.bad_ids[p.bad_begin + i]] = -INFINITY;
    __syncthreads();
    for (int i = tid; i < p.bias_count; i += kThreads) {  // ids unique: no two threads write one logit
      const int id = lists.bias_ids[p.bias_begin + i];
      row[id] = __fadd_rn(row[id], lists.bias_vals[p.bias_begin + i]);  // -inf (banned) stays -inf
    }
    __syncthreads();
    if (rep || freq_pres)
      for (int i = tid; i < p.pen_count; i += kThreads) {
        const int id = lists.pen_ids[p.pen_begin + i];
        float x = row[id];
        if (rep) x = x > 0.0f ? __fdiv_rn(x, p.repetition_penalty) : __fmul_rn(x, p.repetition_penalty);
        const int c = lists.pen_out_counts[p.pen_begin + i];
        if (freq_pres && c > 0)  // rounded like the host: no FMA contraction
          x = __fsub_rn(x, __fadd_rn(__fmul_rn(float(c), p.frequency_penalty), p.presence_penalty));
        row[id] = x;
      }
    __syncthreads();
    // --- C: penalized row ---
    kpen = 0;
    n_unmasked = 0;
    for_row(row, vocab, [&](int j, float x, bool in_row) {
      if (!in_row || x != x) return;
      kpen = max(kpen, make_key(x, j));
      n_unmasked += x != -INFINITY;
    });
    kpen = block_reduce(kpen, MaxOp{}, s);
    n_unmasked = block_reduce(n_unmasked, SumOp{}, s);
  }
  const float lmax = key_value(kpen);
  if (!(lmax > -INFINITY)) return finish(kSampleAllMasked, 0, 0.0f);  // all -inf

  int token = key_id(kpen);  // greedy: argmax, ties to the lowest id
  if (p.temperature > 0.0f) {
    const double inv_t = 1.0 / double(p.temperature);
    // --- K: top-k ---
    u64 thr = 0;  // kept iff key >= thr (every unmasked key is > 0)
    if (p.top_k > 0 && p.top_k < n_unmasked) {
      thr = p.top_k == 1 ? kpen
                         : radix_select<false>(s, row, vocab, u64(p.top_k), 0.0,
                                               [](int, float x, u64) -> u64 { return x != -INFINITY; })
                               .key;
    }
    // --- P: top-p inside the top-k set ---
    if (p.top_p < 1.0f) {
      const u64 kthr = thr;
      thr = radix_select<true>(s, row, vocab, 0, double(p.top_p), [&](int, float x, u64 key) -> u64 {
              return key >= kthr ? to_fixed(weight(x, lmax, inv_t)) : 0;
            }).key;
    }
    // --- S: kept weights (top-k/top-p threshold, then min-p) and the inverse CDF in id order ---
    const double min_w = double(p.min_p);
    auto kept = [&](int j, float x) -> u64 {
      if (x == -INFINITY || make_key(x, j) < thr) return 0;
      const double w = weight(x, lmax, inv_t);
      return w < min_w ? 0 : to_fixed(w);
    };
    const int chunk = (vocab + kThreads - 1) / kThreads;  // <= 256 ids per thread, contiguous
    const int j0 = min(vocab, tid * chunk), j1 = min(vocab, j0 + chunk);
    u64 part = 0;
    for (int j = j0; j < j1; ++j) part += kept(j, row[j]);
    u64 total = 0;
    const u64 excl = block_excl_scan(part, s, total);
    // first id whose cumulative weight exceeds u * total (cum > u * total <=> cum > floor(u * total))
    const double ut = floor(p.u * double(total));
    const u64 target = ut <= 0.0 ? 0 : (ut >= double(total) ? total - 1 : min(u64(ut), total - 1));
    if (tid == 0) {
      s.win = -1;
      s.token = token;
    }
    __syncthreads();
    if (total > 0 && part > 0 && excl <= target && target < excl + part) {
      s.win = tid;
      s.win_base = excl;
    }
    __syncthreads();
    if (warp == 0 && s.win >= 0) {
      const int c0 = s.win * chunk, c1 = min(vocab, c0 + chunk);
      u64 carry = s.win_base;
      for (int base = c0; base < c1; base += 32) {
        const int j = base + lane;
        const u64 v = j < c1 ? kept(j, row[j]) : 0;
        u64 incl = v;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const u64 t = __shfl_up_sync(kFull, incl, o);
          if (lane >= o) incl += t;
        }
        const unsigned hit = __ballot_sync(kFull, j < c1 && carry + incl > target);
        if (hit) {  // the first such lane has v > 0
          if (lane == __ffs(hit) - 1) s.token = j;
          break;
        }
        carry += __shfl_sync(kFull, incl, 31);
      }
    }
    __syncthreads();
    token = s.token;  // unchanged (the argmax) if no chunk won: no kept weight, cannot happen
  }

  // logprob of the sampled token from its raw logit
  if (want_lp) {
    __syncthreads();
    if (tid == 0) s.raw = row[token];  // equals the raw logit unless token is a pen id
    __syncthreads();
    if (modifies) {  // a pen id and a bias id hold the same raw value: either write is right
      for (int i = tid; i < p.pen_count; i += kThreads)
        if (lists.pen_ids[p.pen_begin + i] == token) s.raw = lists.pen_orig[p.pen_begin + i];
      for (int i = tid; i < p.bias_count; i += kThreads)
        if (lists.bias_ids[p.bias_begin + i] == token) s.raw = lists.bias_orig[p.bias_begin + i];
    }
    __syncthreads();
  }
  finish(kSampleOk, token, want_lp ? s.raw - lse : 0.0f);
}

}  // namespace

void sample_rows(const SampleRow* rows, int num_rows, float* logits, int vocab, const SampleLists& lists,
                 const SampleOut& out, cudaStream_t stream) {
  if (num_rows <= 0 || vocab <= 0) return;
  IGNIS_KCHECK(vocab <= kMaxSampleVocab, "sample_rows: vocab " + std::to_string(vocab) + " above 2^18 (fixed-point sums)");
  sample_rows_kernel<<<num_rows, kThreads, 0, stream>>>(rows, logits, vocab, lists, out);
  IGNIS_CUDA_LAUNCH_CHECK("sample_rows_kernel");
}

}  // namespace ignis::kernels
