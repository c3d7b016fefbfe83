// CpuModel::load lives apart from cpu_model.cpp so that using CpuModel with a
// hand-built WeightStore does not pull in the file loaders.
#include "model/cpu_model.h"

namespace ignis {

std::unique_ptr<CpuModel> CpuModel::load(const std::filesystem::path& dir, LoadFormat fmt, uint64_t seed) {
  ModelConfig cfg = load_model_config(dir);
  WeightStore ws = WeightStore::load(dir, cfg, fmt, seed);
  return std::make_unique<CpuModel>(cfg, ws);
}

}  // namespace ignis
