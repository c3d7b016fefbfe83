#include "cuda/device_sampler.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/cuda_check.h"

namespace ignis::cuda {

namespace {
bool penalized(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
}
}  // namespace

bool DeviceSampler::plain_greedy(const std::vector<RowSampling>& rows) {
  for (const RowSampling& r : rows) {
    const SamplingParams& p = r.sampling();
    if (!p.greedy() || penalized(p) || !p.bad_token_ids.empty() || !p.bad_word_ids.empty() || !p.logit_bias.empty() ||
        p.logprobs > 0 || r.allowed_mask != nullptr)
      return false;
  }
  return true;
}

bool DeviceSampler::fits_device(const std::vector<RowSampling>& rows, int vocab) {
  if (vocab > kernels::kMaxSampleVocab) return false;
  for (const RowSampling& r : rows)
    if (r.sampling().logprobs > kernels::kMaxTopLogprobs) return false;
  return true;
}

void DeviceSampler::penalty_list(const RowSampling& r, int vocab, std::vector<std::pair<int32_t, int32_t>>& out) {
  const SamplingParams& p = r.sampling();
  out.clear();
  if (!penalized(p)) return;
  IGNIS_CHECK(r.n_output == 0 || r.output_ids, "sampling row: output ids missing");
  IGNIS_CHECK(r.n_prompt == 0 || r.prompt_ids, "sampling row: prompt ids missing");
  // (id, 1 if from the output) sorted, then runs of one id folded into (id, output count)
  if (p.repetition_penalty != 1.0f)
    for (size_t j = 0; j < r.n_prompt; ++j) out.emplace_back(r.prompt_ids[j], 0);
  for (size_t j = 0; j < r.n_output; ++j) out.emplace_back(r.output_ids[j], 1);
  std::sort(out.begin(), out.end());
  size_t w = 0;
  for (size_t j = 0; j < out.size();) {
    const int32_t id = out[j].first;
    IGNIS_CHECK(id >= 0 && id < vocab, "sampling row: token id {} outside the vocabulary [0, {})", id, vocab);
    int32_t count = 0;
    for (; j < out.size() && out[j].first == id; ++j) count += out[j].second;
    out[w++] = {id, count};
  }
  out.resize(w);
}

void DeviceSampler::reserve(size_t rows, size_t pen, size_t bad, size_t bias, size_t mask_words) {
  if (rows > cap_rows_) {
    cap_rows_ = std::max(rows, cap_rows_ * 2);
    const size_t n = cap_rows_, top = n * kernels::kMaxTopLogprobs;
    h_rows_ = PinnedBuffer(n * sizeof(kernels::SampleRow));
    d_rows_ = DeviceBuffer(n * sizeof(kernels::SampleRow), "sampling rows");
    d_token_ = DeviceBuffer(n * 4, "sampled tokens");
    d_logprob_ = DeviceBuffer(n * 4, "sampled logprobs");
    d_status_ = DeviceBuffer(n * 4, "sampling status");
    d_top_ids_ = DeviceBuffer(top * 4, "top logprob ids");
    d_top_lp_ = DeviceBuffer(top * 4, "top logprobs");
    h_token_ = PinnedBuffer(n * 4);
    h_logprob_ = PinnedBuffer(n * 4);
    h_status_ = PinnedBuffer(n * 4);
    h_top_ids_ = PinnedBuffer(top * 4);
    h_top_lp_ = PinnedBuffer(top * 4);
  }
  if (pen > cap_pen_) {
    cap_pen_ = std::max(pen, cap_pen_ * 2);
    h_pen_ids_ = PinnedBuffer(cap_pen_ * 4);
    h_pen_counts_ = PinnedBuffer(cap_pen_ * 4);
    d_pen_ids_ = DeviceBuffer(cap_pen_ * 4, "penalty ids");
    d_pen_counts_ = DeviceBuffer(cap_pen_ * 4, "penalty counts");
    d_pen_orig_ = DeviceBuffer(cap_pen_ * 4, "penalty raw logits");
  }
  if (bad > cap_bad_) {
    cap_bad_ = std::max(bad, cap_bad_ * 2);
    h_bad_ = PinnedBuffer(cap_bad_ * 4);
    d_bad_ = DeviceBuffer(cap_bad_ * 4, "bad token ids");
  }
  if (bias > cap_bias_) {
    cap_bias_ = std::max(bias, cap_bias_ * 2);
    h_bias_ids_ = PinnedBuffer(cap_bias_ * 4);
    h_bias_vals_ = PinnedBuffer(cap_bias_ * 4);
    d_bias_ids_ = DeviceBuffer(cap_bias_ * 4, "logit bias ids");
    d_bias_vals_ = DeviceBuffer(cap_bias_ * 4, "logit bias values");
    d_bias_orig_ = DeviceBuffer(cap_bias_ * 4, "logit bias raw logits");
  }
  if (mask_words > cap_mask_) {
    cap_mask_ = std::max(mask_words, cap_mask_ * 2);
    h_mask_ = PinnedBuffer(cap_mask_ * 4);
    d_mask_ = DeviceBuffer(cap_mask_ * 4, "allowed-token masks");
  }
}

void DeviceSampler::stage(const std::vector<RowSampling>& rows, int vocab, cudaStream_t stream) {
  vocab_ = vocab;
  // Upper bounds of the list lengths, so the pinned buffers are sized once for the step.
  size_t pen = 0, bad = 0, bias = 0, masked = 0;
  const size_t words = (size_t(vocab) + 31) / 32;  // per masked row
  for (const RowSampling& r : rows) {
    masked += r.allowed_mask != nullptr;
    const SamplingParams& p = r.sampling();
    validate_sampling_params(p, vocab);
    if (penalized(p)) pen += r.n_output + (p.repetition_penalty != 1.0f ? r.n_prompt : 0);
    bad += p.bad_token_ids.size() + p.bad_word_ids.size();  // each sequence bans at most one token
    bias += p.logit_bias.size();
  }
  // The previous step's copies out of the pinned buffers must be done before they are rewritten.
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream));
  reserve(std::max<size_t>(rows.size(), 1), std::max<size_t>(pen, 1), std::max<size_t>(bad, 1),
          std::max<size_t>(bias, 1), std::max<size_t>(masked * words, 1));

  auto* hr = h_rows_.as<kernels::SampleRow>();
  auto* pid = h_pen_ids_.as<int32_t>();
  auto* pcnt = h_pen_counts_.as<int32_t>();
  auto* hb = h_bad_.as<int32_t>();
  auto* hbi = h_bias_ids_.as<int32_t>();
  auto* hbv = h_bias_vals_.as<float>();
  int32_t np = 0, nb = 0, nbias = 0, nmask = 0;
  mask_src_.clear();
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowSampling& r = rows[i];
    const SamplingParams& p = r.sampling();
    kernels::SampleRow& k = hr[i];
    k = kernels::SampleRow{};
    k.u = r.u;
    k.temperature = p.temperature;
    k.top_k = p.top_k;
    k.top_p = p.top_p;
    k.min_p = p.min_p;
    k.repetition_penalty = p.repetition_penalty;
    k.frequency_penalty = p.frequency_penalty;
    k.presence_penalty = p.presence_penalty;
    k.num_logprobs = std::min(p.logprobs, vocab);
    k.bad_begin = nb;
    for (int32_t t : p.bad_token_ids) hb[nb++] = t;
    if (!p.bad_word_ids.empty()) {  // the sequences' bans depend on the tokens so far: found here, per step
      IGNIS_CHECK(r.n_output == 0 || r.output_ids, "sampling row: output ids missing");
      IGNIS_CHECK(r.n_prompt == 0 || r.prompt_ids, "sampling row: prompt ids missing");
      banned_.clear();
      banned_word_tokens(p, r.prompt_ids, r.n_prompt, r.output_ids, r.n_output, &banned_);
      for (int32_t t : banned_) hb[nb++] = t;
    }
    k.bad_count = nb - k.bad_begin;
    k.bias_begin = nbias;
    for (const auto& [t, b] : p.logit_bias) {
      hbi[nbias] = t;
      hbv[nbias] = b;
      ++nbias;
    }
    k.bias_count = nbias - k.bias_begin;
    k.pen_begin = np;
    if (penalized(p)) {
      penalty_list(r, vocab, scratch_);
      for (const auto& [id, count] : scratch_) {
        pid[np] = id;
        pcnt[np] = count;
        ++np;
      }
    }
    k.pen_count = np - k.pen_begin;
    if (r.allowed_mask) {
      mask_src_.push_back(r.allowed_mask);
      k.mask_row = nmask++;
    }
  }
  const size_t n = rows.size();
  if (n) IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_rows_.get(), hr, n * sizeof(kernels::SampleRow), cudaMemcpyHostToDevice, stream));
  if (np) {
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_pen_ids_.get(), pid, size_t(np) * 4, cudaMemcpyHostToDevice, stream));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_pen_counts_.get(), pcnt, size_t(np) * 4, cudaMemcpyHostToDevice, stream));
  }
  if (nb) IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_bad_.get(), hb, size_t(nb) * 4, cudaMemcpyHostToDevice, stream));
  if (nbias) {
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_bias_ids_.get(), hbi, size_t(nbias) * 4, cudaMemcpyHostToDevice, stream));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_bias_vals_.get(), hbv, size_t(nbias) * 4, cudaMemcpyHostToDevice, stream));
  }
}

void DeviceSampler::stage_masks(cudaStream_t stream) {
  if (mask_src_.empty()) return;
  // stage() synchronized the stream, so the previous step's copy out of h_mask_ is done.
  const size_t words = (size_t(vocab_) + 31) / 32;
  auto* hm = h_mask_.as<uint32_t>();
  for (size_t i = 0; i < mask_src_.size(); ++i) std::memcpy(hm + i * words, mask_src_[i], words * 4);
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(d_mask_.get(), hm, mask_src_.size() * words * 4, cudaMemcpyHostToDevice, stream));
  mask_src_.clear();
}

void DeviceSampler::launch(float* logits, int row_begin, int n, cudaStream_t stream) {
  if (n <= 0) return;
  kernels::SampleLists lists;
  lists.pen_ids = d_pen_ids_.as<int32_t>();
  lists.pen_out_counts = d_pen_counts_.as<int32_t>();
  lists.pen_orig = d_pen_orig_.as<float>();
  lists.bad_ids = d_bad_.as<int32_t>();
  lists.bias_ids = d_bias_ids_.as<int32_t>();
  lists.bias_vals = d_bias_vals_.as<float>();
  lists.bias_orig = d_bias_orig_.as<float>();
  lists.allowed = d_mask_.as<uint32_t>();
  lists.mask_words = int32_t((vocab_ + 31) / 32);
  kernels::SampleOut out;
  const size_t top = size_t(row_begin) * kernels::kMaxTopLogprobs;
  out.token = d_token_.as<int32_t>() + row_begin;
  out.logprob = d_logprob_.as<float>() + row_begin;
  out.status = d_status_.as<int32_t>() + row_begin;
  out.top_ids = d_top_ids_.as<int32_t>() + top;
  out.top_logprobs = d_top_lp_.as<float>() + top;
  kernels::sample_rows(d_rows_.as<kernels::SampleRow>() + row_begin, n, logits, vocab_, lists, out, stream);
}

void DeviceSampler::collect(const std::vector<RowSampling>& rows, cudaStream_t stream, std::vector<RowSample>& out) {
  const size_t n = rows.size();
  out.resize(n);
  if (n == 0) return;
  int max_top = 0;
  for (const RowSampling& r : rows) max_top = std::max(max_top, r.sampling().logprobs);
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_token_.as<void>(), d_token_.get(), n * 4, cudaMemcpyDeviceToHost, stream));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_logprob_.as<void>(), d_logprob_.get(), n * 4, cudaMemcpyDeviceToHost, stream));
  IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_status_.as<void>(), d_status_.get(), n * 4, cudaMemcpyDeviceToHost, stream));
  if (max_top > 0) {
    const size_t top = n * kernels::kMaxTopLogprobs * 4;
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_top_ids_.as<void>(), d_top_ids_.get(), top, cudaMemcpyDeviceToHost, stream));
    IGNIS_CUDA_CHECK(cudaMemcpyAsync(h_top_lp_.as<void>(), d_top_lp_.get(), top, cudaMemcpyDeviceToHost, stream));
  }
  IGNIS_CUDA_CHECK(cudaStreamSynchronize(stream));  // the host reads the sampled tokens
  const auto* tok = h_token_.as<int32_t>();
  const auto* lp = h_logprob_.as<float>();
  const auto* st = h_status_.as<int32_t>();
  for (size_t i = 0; i < n; ++i) {
    const SamplingParams& p = rows[i].sampling();
    RowSample& o = out[i];
    o.error.clear();
    o.result = SampleResult{};
    if (st[i] == kernels::kSampleBadLogit) {
      o.error = "sampling: a logit is NaN or +inf (model output is broken)";
      continue;
    }
    if (st[i] == kernels::kSampleAllMasked) {
      o.error = "sampling: every token is masked (all logits are -inf)";
      continue;
    }
    IGNIS_CHECK(st[i] == kernels::kSampleOk && tok[i] >= 0 && tok[i] < vocab_,
                "sampling row {}: device returned status {} token {}", i, st[i], tok[i]);
    o.result.token = tok[i];
    if (p.logprobs >= 0) o.result.logprob = lp[i];
    for (int j = 0; j < std::min(p.logprobs, vocab_); ++j) {
      const size_t at = i * kernels::kMaxTopLogprobs + size_t(j);
      o.result.top.emplace_back(h_top_ids_.as<int32_t>()[at], h_top_lp_.as<float>()[at]);
    }
  }
}

}  // namespace ignis::cuda
