// Small pieces the quantization tests' checkpoint writers share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/weights.h"

namespace ignis::test {

// A decoder layer's q/k/v/o/gate/up/down weight ("model.layers.N.*.X_proj.weight").
inline bool is_layer_projection(const std::string& name) {
  for (const char* s : {".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".o_proj.weight", ".gate_proj.weight",
                        ".up_proj.weight", ".down_proj.weight"}) {
    const std::string suf(s);
    if (name.rfind("model.layers.", 0) == 0 && name.size() > suf.size() &&
        name.compare(name.size() - suf.size(), suf.size(), suf) == 0)
      return true;
  }
  return false;
}

// Adds a tensor whose bytes the store keeps alive; `file` is what error messages name.
inline void add_owned(WeightStore& ws, const std::string& name, DType t, std::vector<int64_t> shape,
                      std::vector<uint8_t> b, const std::string& file = "<reference>") {
  TensorRef r;
  r.name = name;
  r.file = file;
  r.dtype = t;
  r.shape = std::move(shape);
  r.data = b.data();
  r.nbytes = b.size();
  ws.keep_alive(std::move(b));
  ws.add(std::move(r));
}

}  // namespace ignis::test
