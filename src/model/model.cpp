#include "model/model.h"

#include <cmath>

#include "core/error.h"

namespace ignis {

namespace {

std::vector<float>& typical_scratch() {  // (vocab) a typical-acceptance row's distribution
  thread_local std::vector<float> v;
  return v;
}

}  // namespace

const SamplingParams& RowSampling::sampling() const {
  static const SamplingParams kDiscard = [] {
    SamplingParams p;
    p.temperature = 0.0f;  // greedy: the row is discarded anyway
    return p;
  }();
  return params ? *params : kDiscard;
}

void Model::sample_on_host(float* logits, int vocab, const std::vector<RowSampling>& rows, std::vector<RowSample>& out) {
  out.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowSampling& r = rows[i];
    RowSample& o = out[i];
    o.error.clear();
    o.accepted = false;
    try {
      float* row = logits + i * size_t(vocab);
      if (r.typical_entropy) {  // before sampling, which processes the row in place
        std::vector<float>& dist = typical_scratch();
        dist.assign(row, row + vocab);
        if (r.allowed_mask) apply_allowed_mask(dist.data(), vocab, r.allowed_mask);
        apply_penalties(dist.data(), vocab, r.sampling(), r.prompt_ids, r.n_prompt, r.output_ids, r.n_output);
        dense_distribution(dist.data(), vocab, r.sampling(), dist.data());
        double h = 0;
        for (int v = 0; v < vocab; ++v)
          if (dist[size_t(v)] > 0) h -= double(dist[size_t(v)]) * std::log(double(dist[size_t(v)]));
        for (int j = 0; j < r.n_typical; ++j) {
          const int32_t t = r.typical_tokens[j];
          r.typical_probs[j] = t >= 0 && t < vocab ? dist[size_t(t)] : 0.0f;
        }
        *r.typical_entropy = float(h);
      }
      if (r.draft_token >= 0) {
        DraftCheck d{r.draft_token, r.draft_prob, r.draft_dist, r.u_accept};
        o.result = verify_draft_u(row, vocab, r.sampling(), r.u, d, r.prompt_ids, r.n_prompt, r.output_ids,
                                  r.n_output, &o.accepted, r.allowed_mask);
      } else {
        o.result = sample_token_u(row, vocab, r.sampling(), r.u, r.prompt_ids, r.n_prompt, r.output_ids, r.n_output,
                                  r.allowed_mask);
      }
    } catch (const std::exception& e) {
      o.result = SampleResult{};
      o.accepted = false;
      o.error = e.what();
    }
  }
}

void Model::forward_sample(const ForwardBatch& batch, const std::vector<RowSampling>& rows, std::vector<RowSample>& out,
                           const BeforeSample& before_sample) {
  IGNIS_CHECK(rows.size() == size_t(batch.num_logit_rows()), "{}: {} sampling rows for {} logit rows", backend_name(),
              rows.size(), batch.num_logit_rows());
  std::vector<float>& logits = host_logits_;
  forward(batch, logits);
  if (before_sample) before_sample();
  IGNIS_CHECK(logits.size() >= rows.size() * size_t(config().vocab_size), "{}: forward returned {} logits for {} rows",
              backend_name(), logits.size(), rows.size());
  sample_on_host(logits.data(), config().vocab_size, rows, out);
}

void Model::compact_kv(const std::vector<int32_t>&, const std::vector<int32_t>& src, const std::vector<int32_t>&) {
  IGNIS_CHECK(src.empty(), "{} backend: no KV compaction (tree verification is not supported)", backend_name());
}

void Model::forward_verify(const ForwardBatch& batch, const std::vector<RowSampling>& rows, std::vector<RowSample>& out,
                           const BeforeSample& before_sample) {
  Model::forward_sample(batch, rows, out, before_sample);
}

}  // namespace ignis
