#include "model/model.h"

#include "core/error.h"

namespace ignis {

void Model::forward_greedy(const ForwardBatch&, std::vector<int32_t>&, std::vector<float>&) {
  IGNIS_FAIL("{}: backend has no device greedy sampling", backend_name());
}

}  // namespace ignis
