// kernels/fusion.h (EAGLE draft heads' feature fusion) against host references, bf16 / fp16 / f32, exactly:
// the [embedding | feature] rows (embedding first; an id outside the vocabulary a zero half), the fc
// output plus bias rounded once into x and the residual (in place, as CudaModel runs it; no bias), and
// the final rows gathered without a norm.
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kernels/fusion.h"

namespace ignis {
namespace {

using test::HostTensor;
const DType kTypes[] = {DType::BF16, DType::F16, DType::F32};

// Rounds fp32 values to dtype t and back (what the kernels store).
std::vector<float> rounded(DType t, const std::vector<float>& v) { return test::make_tensor(t, v).f; }

TEST(GpuKernels, FusionConcat) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(71);
  for (DType t : kTypes) {
    const int V = 300, H = 96, n = 23;
    HostTensor table = test::random_tensor(rng, t, size_t(V) * H);
    std::vector<int32_t> tok(n);
    for (auto& x : tok) x = int32_t(rng() % V);
    tok[5] = -1;  // outside the vocabulary: a zero embedding half
    const std::vector<float> feat = test::random_vec(rng, size_t(n) * H, -3.0f, 3.0f);
    auto dt = test::to_device(table), dtok = test::to_device(tok), dfeat = test::to_device(feat);
    cuda::DeviceBuffer out(size_t(n) * 2 * H * dtype_size(t), "out");
    test::poison(out);
    kernels::fusion_concat(t, dtok.as<int32_t>(), n, dt.get(), V, H, dfeat.as<float>(), out.get(), nullptr);
    const std::vector<float> fr = rounded(t, feat);
    std::vector<float> want(size_t(n) * 2 * H);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < H; ++j) {
        want[size_t(i) * 2 * H + j] = tok[size_t(i)] < 0 ? 0.0f : table.f[size_t(tok[size_t(i)]) * H + j];
        want[size_t(i) * 2 * H + H + j] = fr[size_t(i) * H + j];
      }
    test::rel_error(test::from_device(out, t, want.size()), want, std::string("fusion_concat ") + test::dname(t), 0.0);
  }
}

TEST(GpuKernels, FusionBiasResidualInPlace) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(72);
  for (DType t : kTypes)
    for (bool with_bias : {true, false}) {
      const int H = 136, n = 9;
      const std::vector<float> y = test::random_vec(rng, size_t(n) * H, -4.0f, 4.0f);
      HostTensor bias = test::random_tensor(rng, t, size_t(H));
      auto dres = test::to_device(y), db = test::to_device(bias);  // y and the residual: one buffer
      cuda::DeviceBuffer x(size_t(n) * H * dtype_size(t), "x");
      test::poison(x);
      kernels::fusion_bias_residual(t, dres.as<float>(), with_bias ? db.get() : nullptr, n, H, dres.as<float>(), x.get(),
                                    nullptr);
      std::vector<float> sum(y.size());
      for (size_t i = 0; i < y.size(); ++i) sum[i] = y[i] + (with_bias ? bias.f[i % H] : 0.0f);
      const std::vector<float> want = rounded(t, sum);
      const std::string what = std::string("fusion_bias_residual ") + test::dname(t) + (with_bias ? "" : " (no bias)");
      test::rel_error(test::from_device(x, t, want.size()), want, what + " x", 0.0);
      test::rel_error(test::from_device(dres, DType::F32, want.size()), want, what + " residual", 0.0);
    }
}

TEST(GpuKernels, AddGatherRows) {
  IGNIS_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(73);
  for (DType t : kTypes) {
    const int H = 72, N = 10;
    const std::vector<int32_t> rows = {7, 0, 3};
    const int n = int(rows.size());
    const std::vector<float> res0 = test::random_vec(rng, size_t(N) * H, -2.0f, 2.0f);
    HostTensor add = test::random_tensor(rng, t, size_t(N) * H);
    auto dres = test::to_device(res0), dadd = test::to_device(add), drows = test::to_device(rows);
    cuda::DeviceBuffer out(size_t(n) * H * dtype_size(t), "out");
    test::poison(out);
    kernels::add_gather_rows(t, dres.as<float>(), dadd.get(), drows.as<int32_t>(), n, H, out.get(), nullptr);
    std::vector<float> res = res0, gathered(size_t(n) * H);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < H; ++j) {
        const size_t r = size_t(rows[size_t(i)]) * H + j;
        res[r] += add.f[r];
        gathered[size_t(i) * H + j] = res[r];
      }
    const std::string what = std::string("add_gather_rows ") + test::dname(t);
    test::rel_error(test::from_device(out, t, gathered.size()), rounded(t, gathered), what + " out", 0.0);
    test::rel_error(test::from_device(dres, DType::F32, res.size()), res, what + " residual (other rows unchanged)", 0.0);
  }
}

}  // namespace
}  // namespace ignis
