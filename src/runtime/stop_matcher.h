// ignis runtime: stop strings over streamed, detokenized text. Text that could still
// turn into a stop string is held back; the emitted text never contains a stop string
// nor anything after it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ignis {

class StopMatcher {
 public:
  StopMatcher() = default;
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored

  struct Result {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string matched; `text` ends just before it
  };
  Result push(std::string_view text);
  // End of stream without a match: the held-back tail.
  std::string flush();
  bool empty() const { return stops_.empty(); }
  size_t held_size() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // longest tail that is a proper prefix of some stop string
};

}  // namespace ignis
