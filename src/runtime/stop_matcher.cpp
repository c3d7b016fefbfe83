#include "runtime/stop_matcher.h"

#include <algorithm>

namespace ignis {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopMatcher::Result StopMatcher::push(std::string_view text) {
  Result r;
  if (stops_.empty()) {
    r.text.assign(text);
    return r;
  }
  std::string buf = std::move(held_);
  held_.clear();
  buf.append(text);
  // Earliest occurrence of any stop string. Occurrences can only start in the held
  // tail or the new text: an earlier start would have been held back.
  size_t best = std::string::npos;
  for (const auto& s : stops_) best = std::min(best, buf.find(s));
  if (best != std::string::npos) {
    r.text = buf.substr(0, best);
    r.stopped = true;
    return r;
  }
  // Hold back the longest suffix that is a proper prefix of a stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t k = std::min(buf.size(), s.size() - 1); k > hold; --k) {
      if (buf.compare(buf.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  held_ = buf.substr(buf.size() - hold);
  buf.resize(buf.size() - hold);
  r.text = std::move(buf);
  return r;
}

std::string StopMatcher::flush() {
  std::string out = std::move(held_);
  held_.clear();
  return out;
}

}  // namespace ignis
