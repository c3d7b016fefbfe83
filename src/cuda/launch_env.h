// ignis cuda: defaults the CLI reads from the environment for kernel launch options that the
// kernels take as arguments (kernels/ read no environment, so two models in one process may differ).
#pragma once

namespace ignis::cuda {

// Programmatic dependent launch for the GEMVs (kernels::gemv / gemv_fp8 `pdl`): on unless
// IGNIS_PDL=0 (A/B measurements).
bool pdl_default_from_env();

}  // namespace ignis::cuda
