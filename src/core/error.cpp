#include "core/error.h"

namespace ignis {
void throw_error(const std::string& msg) { throw Error(msg); }
}  // namespace ignis
