// libFuzzer target: the safetensors header parser and the shard index parser.
// Any outcome but success or an ignis::Error (a crash, a sanitizer report, a
// foreign exception, a hang) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ignis::SafetensorsHeader h = ignis::parse_safetensors_header(data, size, "fuzz.safetensors");
    // Invariants of an accepted header: tensors tile the data section in order.
    uint64_t pos = 0;
    for (const auto& e : h.tensors) {
      if (e.begin != pos || e.end < e.begin) __builtin_trap();
      pos = e.end;
    }
    if (h.data_start + pos != size) __builtin_trap();
  } catch (const ignis::Error&) {
  }
  try {
    auto m = ignis::parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
    for (auto& [name, shard] : m)
      if (shard.empty() || shard[0] == '/' || shard.find("..") != std::string::npos) __builtin_trap();
  } catch (const ignis::Error&) {
  }
  return 0;
}
