// libFuzzer target: config.json and generation_config.json parsing. An accepted
// config must satisfy the invariants the rest of the engine relies on, and its
// derived sizes (parameter count, expected tensors) must be computable.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/config.h"
#include "model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    ignis::ModelConfig c = ignis::parse_model_config(text, "fuzz/config.json");
    bool ok = c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 && c.num_kv_heads > 0 &&
              c.num_heads % c.num_kv_heads == 0 && c.head_dim > 0 && c.head_dim % 2 == 0 && c.intermediate_size > 0 &&
              c.sliding_window >= 0 && c.rms_norm_eps > 0;
    if (!ok) __builtin_trap();
    if (c.num_params() <= 0 || c.kv_bytes_per_token(ignis::DType::F32) <= 0) __builtin_trap();
    if (c.num_layers <= 64) {  // keep each run fast
      auto t = ignis::expected_tensors(c);
      if (t.empty()) __builtin_trap();
    }
  } catch (const ignis::Error&) {
  }
  try {
    ignis::GenerationConfig g = ignis::parse_generation_config(text, "fuzz/generation_config.json");
    for (int id : g.eos_token_ids)
      if (id < 0) __builtin_trap();
  } catch (const ignis::Error&) {
  }
  return 0;
}
