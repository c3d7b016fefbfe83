// GPU sampling (kernels/sampling.h) against the host reference sampler (sampling/sampler.h), row by row:
// greedy tokens and logprobs, penalized logits bit for bit, the inverse CDF of every filter combination
// over a grid of uniform draws, determinism, and error rows next to good ones.
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>

#include "gpu_test_util.h"
#include "kernels/sampling.h"
#include "sampling/sampler.h"

namespace ignis {
namespace {

using kernels::kMaxTopLogprobs;
constexpr float kInf = std::numeric_limits<float>::infinity();
const int kVocabs[] = {1000, 32000, 128256};

// One logit row's inputs; several GPU rows may replicate it with different uniform draws.
struct Base {
  std::vector<float> logits;  // (V) raw
  SamplingParams p;
  std::vector<int32_t> prompt, output;
  std::vector<uint32_t> allowed;  // (ceil(V / 32)) constrained decoding's mask; empty = unconstrained
  const uint32_t* mask() const { return allowed.empty() ? nullptr : allowed.data(); }
};
struct Row {
  int base;
  double u;
  int32_t want_status = kernels::kSampleOk;
};
struct GpuOut {
  std::vector<int32_t> token, status, top_ids;  // (rows), (rows), (rows, kMaxTopLogprobs)
  std::vector<float> logprob, top_lp, logits;   // (rows), (rows, kMaxTopLogprobs), (rows, V) after the call
};

template <class T>
std::vector<T> download(const cuda::DeviceBuffer& b, size_t n) {
  std::vector<T> v(n);
  IGNIS_CUDA_CHECK(cudaMemcpy(v.data(), b.get(), n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

// Builds the per-row parameters and lists like a backend would (pen ids: unique prompt + output ids
// with their output counts; every GPU row gets its own list range) and runs one sample_rows call.
GpuOut run_gpu(const std::vector<Base>& bases, const std::vector<Row>& rows, int V) {
  const int n = int(rows.size());
  std::vector<kernels::SampleRow> sr(n);
  std::vector<int32_t> pen_ids, pen_counts, bad, bias_ids;
  std::vector<float> bias_vals;
  std::vector<uint32_t> masks;  // (masked rows, ceil(V / 32))
  std::vector<float> logits(size_t(n) * V);
  for (int i = 0; i < n; ++i) {
    const Base& b = bases[rows[i].base];
    std::copy(b.logits.begin(), b.logits.end(), logits.begin() + size_t(i) * V);
    kernels::SampleRow& r = sr[i];
    r.u = rows[i].u;
    r.temperature = b.p.temperature;
    r.top_k = b.p.top_k;
    r.top_p = b.p.top_p;
    r.min_p = b.p.min_p;
    r.repetition_penalty = b.p.repetition_penalty;
    r.frequency_penalty = b.p.frequency_penalty;
    r.presence_penalty = b.p.presence_penalty;
    r.num_logprobs = b.p.logprobs;
    std::map<int32_t, int32_t> count;
    for (int32_t t : b.prompt) count.emplace(t, 0);
    for (int32_t t : b.output) ++count[t];
    r.pen_begin = int32_t(pen_ids.size());
    r.pen_count = int32_t(count.size());
    for (auto [t, c] : count) {
      pen_ids.push_back(t);
      pen_counts.push_back(c);
    }
    r.bad_begin = int32_t(bad.size());
    bad.insert(bad.end(), b.p.bad_token_ids.begin(), b.p.bad_token_ids.end());
    // bad-word sequences: their bans at this position, found on the host as DeviceSampler::stage does
    banned_word_tokens(b.p, b.prompt.data(), b.prompt.size(), b.output.data(), b.output.size(), &bad);
    r.bad_count = int32_t(bad.size()) - r.bad_begin;
    r.bias_begin = int32_t(bias_ids.size());
    r.bias_count = int32_t(b.p.logit_bias.size());
    for (auto [t, v] : b.p.logit_bias) {
      bias_ids.push_back(t);
      bias_vals.push_back(v);
    }
    if (!b.allowed.empty()) {
      r.mask_row = int32_t(masks.size() / ((size_t(V) + 31) / 32));
      masks.insert(masks.end(), b.allowed.begin(), b.allowed.end());
    }
  }
  auto d_rows = test::to_device(sr), d_logits = test::to_device(logits), d_pen = test::to_device(pen_ids),
       d_counts = test::to_device(pen_counts), d_bad = test::to_device(bad), d_bias_ids = test::to_device(bias_ids),
       d_bias_vals = test::to_device(bias_vals), d_masks = test::to_device(masks);
  cuda::DeviceBuffer d_orig(std::max<size_t>(4, pen_ids.size() * 4), "pen_orig");
  cuda::DeviceBuffer d_bias_orig(std::max<size_t>(4, bias_ids.size() * 4), "bias_orig");
  cuda::DeviceBuffer d_tok(size_t(n) * 4, "token"), d_lp(size_t(n) * 4, "logprob"), d_st(size_t(n) * 4, "status");
  cuda::DeviceBuffer d_tid(size_t(n) * kMaxTopLogprobs * 4, "top_ids"), d_tlp(size_t(n) * kMaxTopLogprobs * 4, "top_lp");
  for (cuda::DeviceBuffer* b : {&d_tok, &d_lp, &d_st, &d_tid, &d_tlp}) test::poison(*b);
  kernels::SampleLists lists;
  lists.pen_ids = d_pen.as<int32_t>();
  lists.pen_out_counts = d_counts.as<int32_t>();
  lists.pen_orig = d_orig.as<float>();
  lists.bad_ids = d_bad.as<int32_t>();
  lists.bias_ids = d_bias_ids.as<int32_t>();
  lists.bias_vals = d_bias_vals.as<float>();
  lists.bias_orig = d_bias_orig.as<float>();
  lists.allowed = d_masks.as<uint32_t>();
  lists.mask_words = int32_t((V + 31) / 32);
  kernels::SampleOut out;
  out.token = d_tok.as<int32_t>();
  out.logprob = d_lp.as<float>();
  out.top_ids = d_tid.as<int32_t>();
  out.top_logprobs = d_tlp.as<float>();
  out.status = d_st.as<int32_t>();
  kernels::sample_rows(d_rows.as<kernels::SampleRow>(), n, d_logits.as<float>(), V, lists, out, nullptr);
  IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
  GpuOut g;
  g.token = download<int32_t>(d_tok, n);
  g.status = download<int32_t>(d_st, n);
  g.top_ids = download<int32_t>(d_tid, size_t(n) * kMaxTopLogprobs);
  g.logprob = download<float>(d_lp, n);
  g.top_lp = download<float>(d_tlp, size_t(n) * kMaxTopLogprobs);
  g.logits = download<float>(d_logits, size_t(n) * V);
  return g;
}

// N(0, 3) logits; mode 1: on a 0.5 grid (ties everywhere), mode 2: 5% copies of the 50 largest values
// (ties at the top and at top-k thresholds). Plus a +0, a -0 and a -inf.
Base make_base(std::mt19937_64& rng, int V, int mode) {
  Base b;
  b.logits.resize(V);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (float& x : b.logits) x = nd(rng);
  if (mode == 1)
    for (float& x : b.logits) x = std::round(x * 2.0f) / 2.0f;
  if (mode == 2) {
    const int top = std::min(50, V);
    std::vector<float> s = b.logits;
    std::partial_sort(s.begin(), s.begin() + top, s.end(), std::greater<float>());
    for (int i = 0; i < V / 20; ++i) b.logits[rng() % V] = s[rng() % top];
  }
  if (V > 100) {
    b.logits[rng() % V] = 0.0f;
    b.logits[rng() % V] = -0.0f;
    b.logits[rng() % V] = -kInf;
  }
  return b;
}

// Random penalties over random ids and the current leaders (so they change the outcome), sometimes bad ids.
void add_penalties(std::mt19937_64& rng, Base& b, int V) {
  const float reps[] = {1.0f, 1.3f, 0.7f}, pres[] = {0.0f, 0.6f, -0.3f};
  b.p.repetition_penalty = reps[rng() % 3];
  b.p.frequency_penalty = rng() % 2 ? 0.4f : 0.0f;
  b.p.presence_penalty = pres[rng() % 3];
  const int lead = std::min(8, V);
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + lead, order.end(),
                    [&](int32_t a, int32_t c) { return b.logits[a] > b.logits[c]; });
  for (int i = 0; i < 30; ++i) b.prompt.push_back(int32_t(rng() % V));
  for (int i = 0; i < 4; ++i) b.prompt.push_back(order[rng() % lead]);
  for (int i = 0; i < 20; ++i) b.output.push_back(rng() % 2 ? order[rng() % lead] : int32_t(rng() % V));
  if (rng() % 3 == 0)
    for (int i = 0; i < 4; ++i) b.p.bad_token_ids.push_back(rng() % 2 ? order[rng() % lead] : int32_t(rng() % V));
  // logit_bias on leaders and random ids (ascending, unique), sometimes +-100 (forced / pushed away)
  if (rng() % 2 == 0) {
    std::map<int32_t, float> bias;
    const float vals[] = {-100.0f, -3.5f, 0.75f, 2.0f, 100.0f};
    for (int i = 0; i < 6; ++i) bias[rng() % 2 ? order[rng() % lead] : int32_t(rng() % V)] = vals[rng() % 5];
    b.p.logit_bias.assign(bias.begin(), bias.end());
  }
  // a bad-word sequence that ends the output (bans a leader now) and one that does not match
  if (rng() % 3 == 0) {
    b.p.bad_word_ids.push_back({b.output[b.output.size() - 2], b.output.back(), order[rng() % lead]});
    b.p.bad_word_ids.push_back({int32_t(rng() % V), int32_t(rng() % V)});
  }
}

std::vector<float> host_penalized(const Base& b, int V) {
  std::vector<float> x = b.logits;
  if (b.mask()) apply_allowed_mask(x.data(), V, b.mask());
  apply_penalties(x.data(), V, b.p, b.prompt.data(), b.prompt.size(), b.output.data(), b.output.size());
  return x;
}

double raw_lse(const std::vector<float>& x) {
  float m = -kInf;
  for (float v : x) m = std::max(m, v);
  double s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  return m + std::log(s);
}

// First kept id whose cumulative probability exceeds u (ids ascending); the last one past the end.
int32_t cdf_token(const std::vector<TokenProb>& d, double u) {
  double c = 0;
  for (const TokenProb& t : d) {
    c += t.prob;
    if (u < c) return t.token;
  }
  return d.back().token;
}
bool near_boundary(const std::vector<TokenProb>& d, double u, double tol) {
  double c = 0;
  if (std::fabs(u) <= tol) return true;
  for (const TokenProb& t : d) {
    c += t.prob;
    if (std::fabs(u - c) <= tol) return true;
  }
  return false;
}

bool close_lp(float got, float want) {
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= 1e-4f;
}

struct Stats {
  long rows = 0, mismatches = 0, failures = 0;
};

// Checks every row of a call: status; for good rows the penalized logits (bit for bit), the token
// against the host (sample_token_u on every `stride`-th row of a base and the first, the host
// distribution's inverse CDF on the others; a mismatch must lie within 1e-5 of a cumulative boundary),
// membership in the host kept set, the raw logprob and the top-n alternatives.
void check_rows(const std::vector<Base>& bases, const std::vector<Row>& rows, const GpuOut& g, int V, int stride,
                Stats& st) {
  std::vector<std::vector<float>> pen(bases.size());
  std::vector<std::vector<TokenProb>> dist(bases.size());
  std::vector<double> lse(bases.size());
  std::vector<int> seen(bases.size(), 0);
  auto fail = [&](const std::string& msg) {
    if (++st.failures <= 20) ADD_FAILURE() << "V " << V << ": " << msg;
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const int bi = rows[i].base;
    const Base& b = bases[bi];
    const double u = rows[i].u;
    std::ostringstream where;
    where << "row " << i << " (T " << b.p.temperature << " k " << b.p.top_k << " p " << b.p.top_p << " min_p "
          << b.p.min_p << " u " << u << ")";
    if (g.status[i] != rows[i].want_status) {
      fail(where.str() + ": status " + std::to_string(g.status[i]) + ", want " + std::to_string(rows[i].want_status));
      continue;
    }
    if (rows[i].want_status != kernels::kSampleOk) {
      if (g.token[i] < 0 || g.token[i] >= V) fail(where.str() + ": error row token outside the vocabulary");
      continue;
    }
    if (dist[bi].empty()) {
      pen[bi] = host_penalized(b, V);
      dist[bi] = sampling_distribution(pen[bi].data(), V, b.p);
      lse[bi] = raw_lse(b.logits);
    }
    if (std::memcmp(&g.logits[i * size_t(V)], pen[bi].data(), size_t(V) * 4) != 0)
      fail(where.str() + ": penalized logits differ from apply_penalties");
    ++st.rows;
    const int32_t tok = g.token[i];
    int32_t host = cdf_token(dist[bi], u);
    if (seen[bi]++ % stride == 0) {
      std::vector<float> x = b.logits;
      const SampleResult hr =
          sample_token_u(x.data(), V, b.p, u, b.prompt.data(), b.prompt.size(), b.output.data(), b.output.size(),
                         b.mask());
      host = hr.token;
      const int n = std::min(b.p.logprobs, kMaxTopLogprobs);
      if (int(hr.top.size()) != std::max(0, std::min(n, V))) fail(where.str() + ": host top size");
      for (size_t t = 0; t < hr.top.size(); ++t) {
        const int32_t id = g.top_ids[i * kMaxTopLogprobs + t];
        const float lp = g.top_lp[i * kMaxTopLogprobs + t];
        if (id != hr.top[t].first || !close_lp(lp, hr.top[t].second))
          fail(where.str() + ": top[" + std::to_string(t) + "] = (" + std::to_string(id) + ", " + std::to_string(lp) +
               "), host (" + std::to_string(hr.top[t].first) + ", " + std::to_string(hr.top[t].second) + ")");
      }
    }
    if (tok != host) {
      ++st.mismatches;
      if (!near_boundary(dist[bi], u, 1e-5))
        fail(where.str() + ": token " + std::to_string(tok) + ", host " + std::to_string(host) +
             " (not at a CDF boundary)");
    }
    if (!std::any_of(dist[bi].begin(), dist[bi].end(), [&](const TokenProb& t) { return t.token == tok; })) {
      fail(where.str() + ": token " + std::to_string(tok) + " outside the host kept set");
      continue;
    }
    if (b.p.logprobs >= 0) {
      const float want = float(double(b.logits[tok]) - lse[bi]);
      if (!close_lp(g.logprob[i], want))
        fail(where.str() + ": logprob " + std::to_string(g.logprob[i]) + ", want " + std::to_string(want));
    } else if (g.logprob[i] != 0.0f) {
      fail(where.str() + ": logprob without logprobs asked");
    }
  }
}

TEST(GpuSampling, GreedyMatchesHost) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(101);
  const int lps[] = {-1, 0, 1, 5, 20};
  for (int V : kVocabs) {
    std::vector<Base> bases;
    std::vector<Row> rows;
    for (int i = 0; i < 37; ++i) {
      Base b = make_base(rng, V, i % 3);
      if (i % 4 != 0) add_penalties(rng, b, V);
      b.p.temperature = 0.0f;
      b.p.logprobs = lps[i % 5];
      bases.push_back(std::move(b));
      rows.push_back({i, 0.0});
    }
    Stats st;
    check_rows(bases, rows, run_gpu(bases, rows, V), V, 1, st);
    EXPECT_EQ(st.mismatches, 0) << "V " << V;  // every row ran sample_token_u: greedy tokens are exact
  }
}

TEST(GpuSampling, PenaltiesBitwiseEqualHost) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(202);
  for (int V : kVocabs) {
    std::vector<Base> bases;
    std::vector<Row> rows;
    for (int i = 0; i < 37; ++i) {
      Base b = make_base(rng, V, i % 3);
      add_penalties(rng, b, V);
      if (i % 2) {  // long histories: many pen ids, repeated outputs, bad ids overlapping them
        for (int k = 0; k < 2000; ++k) b.prompt.push_back(int32_t(rng() % V));
        for (int k = 0; k < 500; ++k) b.output.push_back(int32_t(rng() % std::min(V, 300)));
        for (int k = 0; k < 50; ++k) b.p.bad_token_ids.push_back(b.prompt[rng() % b.prompt.size()]);
        b.logits[b.prompt[0]] = 0.0f;
        b.logits[b.prompt[1]] = -0.0f;
      }
      b.p.repetition_penalty = i % 3 == 0 ? 1.0f : b.p.repetition_penalty;
      b.p.frequency_penalty = i % 5 == 0 ? 0.0f : 0.37f;
      b.p.presence_penalty = i % 7 == 0 ? 0.0f : -0.21f;
      b.p.temperature = i % 2 ? 0.9f : 0.0f;
      b.p.logprobs = i % 3 == 0 ? 2 : -1;
      bases.push_back(std::move(b));
      rows.push_back({i, (i + 0.5) / 37});
    }
    Stats st;
    check_rows(bases, rows, run_gpu(bases, rows, V), V, 1, st);
    EXPECT_EQ(st.failures, 0);
  }
}

// Every combination of temperature, top-k, top-p and min-p; each base row replicated over M uniform draws.
TEST(GpuSampling, FiltersMatchHostInverseCdf) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(303);
  constexpr int M = 85, kBasesPerCall = 3;  // 255 rows per call
  const int lps[] = {-1, 0, 3, 20};
  Stats st;
  for (int V : kVocabs) {
    const int calls = V <= 1000 ? 3 : (V <= 32000 ? 2 : 1);
    const int stride = V <= 1000 ? 1 : (V <= 32000 ? 5 : 17);  // host cost: sample_token_u on every stride-th u
    const long rows_before = st.rows, mism_before = st.mismatches;
    for (float T : {0.5f, 1.0f, 1.7f})
      for (int k : {0, 1, 7, 50})
        for (float top_p : {1.0f, 0.9f, 0.3f})
          for (float min_p : {0.0f, 0.05f})
            for (int c = 0; c < calls; ++c) {
              std::vector<Base> bases;
              std::vector<Row> rows;
              for (int bi = 0; bi < kBasesPerCall; ++bi) {
                Base b = make_base(rng, V, int(rng() % 3));
                if (rng() % 2) add_penalties(rng, b, V);
                b.p.temperature = T;
                b.p.top_k = k;
                b.p.top_p = top_p;
                b.p.min_p = min_p;
                b.p.logprobs = lps[rng() % 4];
                bases.push_back(std::move(b));
                for (int j = 0; j < M; ++j) rows.push_back({bi, (j + 0.5) / M});
              }
              check_rows(bases, rows, run_gpu(bases, rows, V), V, stride, st);
            }
    std::printf("[ sampling ] V %d: %ld rows, %ld tokens differ from the host (all at CDF boundaries)\n", V,
                st.rows - rows_before, st.mismatches - mism_before);
  }
  EXPECT_LE(st.mismatches * 1000, st.rows) << st.mismatches << " of " << st.rows << " tokens differ";
  EXPECT_EQ(st.failures, 0);
}

// Constrained decoding's allowed-token masks (structured::Matcher::fill_mask's layout): masked rows
// next to unmasked ones, sparse masks (a few allowed ids, the leaders masked out) and dense ones,
// greedy and sampled, with penalties and logprobs (raw: the masked-out leaders keep their logprobs).
TEST(GpuSampling, AllowedMaskMatchesHost) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(505);
  for (int V : kVocabs) {
    std::vector<Base> bases;
    std::vector<Row> rows;
    const size_t words = (size_t(V) + 31) / 32;
    for (int i = 0; i < 24; ++i) {
      Base b = make_base(rng, V, i % 3);
      if (i % 3 == 1) add_penalties(rng, b, V);
      if (i % 4 != 3) {
        b.allowed.assign(words, 0u);
        const bool sparse = i % 2 == 0;
        for (int id = 0; id < V; ++id)
          if (sparse ? rng() % 97 == 0 : rng() % 3 != 0) b.allowed[size_t(id) >> 5] |= 1u << (id & 31);
        const int32_t lead = int32_t(std::max_element(b.logits.begin(), b.logits.end()) - b.logits.begin());
        b.allowed[size_t(lead) >> 5] &= ~(1u << (lead & 31));  // the argmax is never allowed
        const int32_t keep = int32_t(rng() % V);
        b.allowed[size_t(keep) >> 5] |= 1u << (keep & 31);     // at least one finite allowed id
        b.logits[keep] = 0.5f;
      }
      b.p.temperature = i % 2 ? 0.8f : 0.0f;
      b.p.top_k = i % 5 == 1 ? 20 : 0;
      b.p.top_p = i % 5 == 2 ? 0.7f : 1.0f;
      b.p.logprobs = i % 3 == 0 ? 3 : (i % 3 == 1 ? 0 : -1);
      bases.push_back(std::move(b));
      for (int j = 0; j < 5; ++j) rows.push_back({i, (j + 0.5) / 5});
    }
    const GpuOut g = run_gpu(bases, rows, V);
    Stats st;
    check_rows(bases, rows, g, V, 1, st);
    EXPECT_EQ(st.failures, 0) << "V " << V;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Base& b = bases[rows[i].base];
      if (b.mask()) {
        EXPECT_TRUE(token_allowed(b.mask(), g.token[i])) << "V " << V << " row " << i;
      }
    }
  }
}

TEST(GpuSampling, Deterministic) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(404);
  const int V = 128256;
  std::vector<Base> bases;
  std::vector<Row> rows;
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  for (int i = 0; i < 37; ++i) {
    Base b = make_base(rng, V, i % 3);
    if (i % 2) add_penalties(rng, b, V);
    b.p.temperature = i % 3 == 0 ? 0.7f : 1.4f;
    b.p.top_k = i % 4 == 0 ? 40 : 0;
    b.p.top_p = i % 5 < 2 ? 0.8f : 1.0f;
    b.p.min_p = i % 7 == 0 ? 0.02f : 0.0f;
    b.p.logprobs = 5;
    bases.push_back(std::move(b));
    rows.push_back({i, ud(rng)});
  }
  const GpuOut a = run_gpu(bases, rows, V);
  for (int rep = 0; rep < 2; ++rep) {
    const GpuOut c = run_gpu(bases, rows, V);
    EXPECT_EQ(a.token, c.token);
    EXPECT_EQ(a.status, c.status);
    EXPECT_EQ(std::memcmp(a.logprob.data(), c.logprob.data(), a.logprob.size() * 4), 0);
    for (size_t i = 0; i < rows.size(); ++i)
      for (int t = 0; t < 5; ++t) {
        EXPECT_EQ(a.top_ids[i * kMaxTopLogprobs + t], c.top_ids[i * kMaxTopLogprobs + t]);
        EXPECT_EQ(a.top_lp[i * kMaxTopLogprobs + t], c.top_lp[i * kMaxTopLogprobs + t]);
      }
  }
  Stats st;
  check_rows(bases, rows, a, V, 1, st);
}

TEST(GpuSampling, ErrorRows) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(505);
  const int V = 32000;
  std::vector<Base> bases;
  std::vector<Row> rows;
  auto add = [&](Base b, double u, int32_t status) {
    bases.push_back(std::move(b));
    rows.push_back({int(bases.size()) - 1, u, status});
  };
  Base good = make_base(rng, V, 0);
  good.p.temperature = 1.0f;
  good.p.top_p = 0.9f;
  good.p.logprobs = 3;
  add(good, 0.3, kernels::kSampleOk);
  Base nan = good;
  nan.logits[12345] = std::numeric_limits<float>::quiet_NaN();
  add(nan, 0.3, kernels::kSampleBadLogit);
  Base pinf = good;
  pinf.p.temperature = 0.0f;
  pinf.logits[V - 1] = kInf;
  add(pinf, 0.0, kernels::kSampleBadLogit);
  Base all_bad = good;
  all_bad.p.bad_token_ids.resize(V);
  std::iota(all_bad.p.bad_token_ids.begin(), all_bad.p.bad_token_ids.end(), 0);
  add(all_bad, 0.6, kernels::kSampleAllMasked);
  Base all_bad_greedy = all_bad;
  all_bad_greedy.p.temperature = 0.0f;
  all_bad_greedy.p.logprobs = -1;
  add(all_bad_greedy, 0.0, kernels::kSampleAllMasked);
  Base raw_masked = good;
  std::fill(raw_masked.logits.begin(), raw_masked.logits.end(), -kInf);
  add(raw_masked, 0.5, kernels::kSampleAllMasked);
  Base one_left = good;  // every id but one is bad: that one whatever u is
  one_left.p.bad_token_ids.clear();
  for (int t = 0; t < V; ++t)
    if (t != 777) one_left.p.bad_token_ids.push_back(t);
  add(one_left, 0.99, kernels::kSampleOk);
  Base greedy = make_base(rng, V, 2);
  greedy.p.temperature = 0.0f;
  greedy.p.logprobs = 20;
  add_penalties(rng, greedy, V);
  add(greedy, 0.0, kernels::kSampleOk);
  add(good, 0.95, kernels::kSampleOk);
  // the host agrees that the error rows are errors
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].want_status == kernels::kSampleOk) continue;
    std::vector<float> x = bases[i].logits;
    const Base& b = bases[i];
    EXPECT_THROW(sample_token_u(x.data(), V, b.p, rows[i].u, b.prompt.data(), b.prompt.size(), b.output.data(),
                                b.output.size()),
                 Error)
        << "row " << i;
  }
  const GpuOut g = run_gpu(bases, rows, V);
  Stats st;
  check_rows(bases, rows, g, V, 1, st);
  EXPECT_EQ(st.failures, 0);
  EXPECT_EQ(g.token[6], 777);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].want_status != kernels::kSampleOk) {
      EXPECT_EQ(g.token[i], 0) << "row " << i;
    }
  }
}

// Vocab of 1 and of 2^18; top_k above the unmasked count; u = 0 and the largest u below 1; one dominant
// logit (every other weight below the fixed-point unit); all logits equal (ties broken by id alone).
TEST(GpuSampling, EdgeCases) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(606);
  const double u_max = std::nextafter(1.0, 0.0);
  {
    const int V = 1;
    std::vector<Base> bases(4);
    std::vector<Row> rows;
    for (int i = 0; i < 4; ++i) {
      bases[i].logits = {1.5f};
      bases[i].p.logprobs = 20;
      rows.push_back({i, i == 3 ? u_max : 0.5});
    }
    bases[0].p.temperature = 0.0f;
    bases[1].p.top_k = 5;
    bases[1].p.top_p = 0.5f;
    bases[1].p.min_p = 0.5f;
    bases[2].p.repetition_penalty = 1.5f;
    bases[2].prompt = {0};
    bases[2].output = {0, 0};
    bases[2].p.frequency_penalty = 0.5f;
    const GpuOut g = run_gpu(bases, rows, V);
    Stats st;
    check_rows(bases, rows, g, V, 1, st);
    EXPECT_EQ(st.failures, 0);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(g.token[i], 0);
      EXPECT_NEAR(g.logprob[i], 0.0f, 1e-6f);
    }
  }
  {
    const int V = 1 << 18;
    std::vector<Base> bases;
    std::vector<Row> rows;
    auto add = [&](Base b, std::initializer_list<double> us) {
      bases.push_back(std::move(b));
      for (double u : us) rows.push_back({int(bases.size()) - 1, u});
    };
    Base b = make_base(rng, V, 0);
    b.p.top_k = 300000;
    b.p.logprobs = 20;
    add(b, {0.0, 0.5, u_max});
    b.p.top_k = 0;
    b.p.temperature = 1.3f;
    b.p.top_p = 0.95f;
    b.p.min_p = 0.001f;
    add(b, {0.0, 0.25, u_max});
    Base dom = make_base(rng, V, 0);
    for (float& x : dom.logits) x *= 0.3f;
    dom.logits[200000] = 100.0f;
    dom.p.temperature = 0.5f;
    add(dom, {0.3, 0.999, u_max});
    Base flat;
    flat.logits.assign(V, 0.25f);
    flat.p.top_k = 1000;
    add(flat, {0.0, 0.5, u_max});
    flat.p.top_k = 0;
    flat.p.top_p = 0.5f;
    add(flat, {0.3, u_max});
    flat.p.temperature = 0.0f;
    flat.p.logprobs = 7;
    add(flat, {0.0});
    const GpuOut g = run_gpu(bases, rows, V);
    Stats st;
    check_rows(bases, rows, g, V, 1, st);
    EXPECT_EQ(st.failures, 0);
    EXPECT_EQ(g.token[6], 200000);
    EXPECT_EQ(g.token[rows.size() - 1], 0);
  }
}

}  // namespace
}  // namespace ignis
