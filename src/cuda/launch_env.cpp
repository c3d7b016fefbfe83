#include "cuda/launch_env.h"

#include <cstdlib>
#include <cstring>

namespace ignis::cuda {

bool pdl_default_from_env() {
  const char* e = std::getenv("IGNIS_PDL");
  return !(e && std::strcmp(e, "0") == 0);
}

}  // namespace ignis::cuda
