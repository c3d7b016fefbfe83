// ignis structured: decimal representations of bounded integers and numbers as expressions
// (JSON schema minimum / maximum / exclusive bounds).
#pragma once
#include <cstdint>
#include <optional>

#include "structured/expr.h"

namespace ignis::structured {

// The canonical decimal forms (no leading zeros, no "-0") of the integers in [lo, hi]
// (absent: unbounded; unbounded sides stop at 18 digits so that outputs fit an int64). Never when
// the range is empty.
ExprP integer_range(std::optional<int64_t> lo, std::optional<int64_t> hi);

// Decimal numbers x (no exponent) with lo <(=) x <(=) hi. Non-integer bounds are tightened to
// integers (ceil / floor), which keeps every output in range. Never when that leaves nothing.
ExprP number_range(std::optional<double> lo, bool lo_strict, std::optional<double> hi, bool hi_strict);

}  // namespace ignis::structured
