// ignis bench: what the report says about the machine. On a CUDA build with a device: the GPU's
// name and a device-to-device copy bandwidth measured now (ignis::cuda::measure_copy_bandwidth_gbs),
// the ceiling the achieved decode bandwidth is compared with. Elsewhere: the CPU model name, no
// ceiling (the report prints n/a).
#pragma once
#include <optional>
#include <string>

namespace ignis::bench {

struct HardwareInfo {
  std::string name;
  std::optional<double> copy_bandwidth_gbps;
};

// gpu: probe the CUDA device (when built with CUDA and one is present); call before the model
// takes the device memory for its KV cache (the probe copies 1 GiB).
HardwareInfo probe_hardware(bool gpu);

}  // namespace ignis::bench
