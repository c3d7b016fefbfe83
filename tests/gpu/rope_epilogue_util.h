// ignis tests/gpu: one case of a q/k/v GEMV with RoPE and the K/V write in its epilogue
// (kernels/gemv_epilogue.cuh RopeY: gemv_fp8_rope, gemv_int_rope) against the GEMV followed by
// rope_qkv_write_kv: the positions (random, one token with slot -1 when there are several), the bias,
// both pairs of output buffers, and the byte comparisons (q's columns of qkv, both caches whole).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/rope_kv.h"
#include "model/cpu/rope.h"

namespace ignis::test {

struct RopeEpilogueCase {
  static constexpr int kBlockSize = 16, kBlocks = 4;
  int m, Q, W;
  size_t es, qkv_bytes, cache_bytes;
  HostTensor bias;
  std::vector<int32_t> pos, slot;
  std::vector<float> inv;
  cuda::DeviceBuffer dbias, dpos, dslot, dinv;
  cuda::DeviceBuffer qkv_ref, kc_ref, vc_ref, qkv, kc, vc;
  kernels::RopeKvArgs ref, fused;  // the reference's buffers (the GEMV writes ref.qkv), the fused kernel's
  std::vector<uint8_t> want_q, want_k, want_v;

  RopeEpilogueCase(std::mt19937_64& rng, DType t, DType kv, int m_, int nh, int nkv, int hd, bool with_bias)
      : m(m_), Q(nh * hd), W((nh + 2 * nkv) * hd), es(dtype_size(t)), qkv_bytes(size_t(m_) * W * es),
        cache_bytes(size_t(kBlocks) * kBlockSize * nkv * hd * (kv == DType::F8_E4M3 ? 1 : es)),
        bias(random_tensor(rng, t, size_t(W), -0.5f, 0.5f)), pos(m_), slot(m_),
        inv(cpu::rope_inv_freq(hd, 500000.0f, RopeScaling{})) {
    std::vector<int32_t> perm(kBlocks * kBlockSize);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int i = 0; i < m; ++i) {
      pos[i] = int32_t(rng() % 30000);
      slot[i] = m > 1 && i == 1 ? -1 : perm[i];
    }
    dbias = to_device(bias);
    dpos = to_device(pos);
    dslot = to_device(slot);
    dinv = to_device(inv);
    qkv_ref = cuda::DeviceBuffer(qkv_bytes, "qkv (GEMV + rope)");
    qkv = cuda::DeviceBuffer(qkv_bytes, "qkv (epilogue)");
    for (cuda::DeviceBuffer* b : {&kc_ref, &vc_ref, &kc, &vc}) {
      *b = cuda::DeviceBuffer(cache_bytes, "kv cache");
      poison(*b);
    }
    kernels::RopeKvArgs a;
    a.dtype = t;
    a.kv_dtype = kv;
    a.k_scale = 0.0123f;
    a.v_scale = 0.0071f;
    a.bias = with_bias ? dbias.get() : nullptr;
    a.positions = dpos.as<int32_t>();
    a.slot_mapping = dslot.as<int32_t>();
    a.inv_freq = dinv.as<float>();
    a.n = m;
    a.num_heads = nh;
    a.num_kv_heads = nkv;
    a.head_dim = hd;
    ref = fused = a;
    ref.qkv = qkv_ref.get();
    ref.k_cache = kc_ref.get();
    ref.v_cache = vc_ref.get();
    fused.qkv = qkv.get();
    fused.k_cache = kc.get();
    fused.v_cache = vc.get();
  }

  static std::vector<uint8_t> bytes(const cuda::DeviceBuffer& b, size_t n) {
    IGNIS_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint8_t> r(n);
    IGNIS_CUDA_CHECK(cudaMemcpy(r.data(), b.get(), n, cudaMemcpyDeviceToHost));
    return r;
  }
  std::vector<uint8_t> q_bytes(const cuda::DeviceBuffer& b) const {  // the q columns of every row
    const std::vector<uint8_t> all = bytes(b, qkv_bytes);
    std::vector<uint8_t> q;
    for (int i = 0; i < m; ++i) q.insert(q.end(), all.begin() + size_t(i) * W * es, all.begin() + (size_t(i) * W + Q) * es);
    return q;
  }
  // After the reference GEMV wrote ref.qkv: rope_qkv_write_kv, and its outputs kept.
  void run_reference() {
    kernels::rope_qkv_write_kv(ref, nullptr);
    want_q = q_bytes(qkv_ref);
    want_k = bytes(kc_ref, cache_bytes);
    want_v = bytes(vc_ref, cache_bytes);
  }
  void poison_outputs() {
    poison(qkv);
    poison(kc);
    poison(vc);
    IGNIS_CUDA_CHECK(cudaDeviceSynchronize());  // before work on a non-blocking stream
  }
  void expect_same(const std::string& what) const {
    EXPECT_TRUE(q_bytes(qkv) == want_q) << what << ": q differs";
    EXPECT_TRUE(bytes(kc, cache_bytes) == want_k) << what << ": k cache differs";
    EXPECT_TRUE(bytes(vc, cache_bytes) == want_v) << what << ": v cache differs";
  }
};

}  // namespace ignis::test
