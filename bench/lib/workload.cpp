// ignis bench: JSONL workload reading and writing (format in workload.h).
#include "bench/lib/workload.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace ignis::bench {

std::vector<WorkItem> parse_workload(const std::string& text, const std::string& name) {
  std::vector<WorkItem> out;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      IGNIS_FAIL("{}:{}: not valid JSON ({})", name, lineno, e.what());
    }
    IGNIS_CHECK(j.is_object(), "{}:{}: each line must be a JSON object", name, lineno);
    WorkItem w;
    if (j.contains("prompt_ids")) {
      const auto& ids = j["prompt_ids"];
      IGNIS_CHECK(ids.is_array(), "{}:{}: prompt_ids must be an array of token ids", name, lineno);
      for (const auto& t : ids) {
        IGNIS_CHECK(t.is_number_integer() && t.get<int64_t>() >= 0 && t.get<int64_t>() <= INT32_MAX,
                    "{}:{}: prompt_ids holds {} (token ids are integers >= 0)", name, lineno, t.dump());
        w.prompt_ids.push_back(t.get<int32_t>());
      }
    }
    if (j.contains("prompt")) {
      IGNIS_CHECK(j["prompt"].is_string(), "{}:{}: prompt must be a string", name, lineno);
      w.prompt = j["prompt"].get<std::string>();
    }
    IGNIS_CHECK(!w.prompt_ids.empty() || !w.prompt.empty(), "{}:{}: needs a non-empty prompt_ids or prompt", name,
                lineno);
    IGNIS_CHECK(j.contains("output_len"), "{}:{}: missing output_len", name, lineno);
    const auto& ol = j["output_len"];
    IGNIS_CHECK(ol.is_number_integer() && ol.get<int64_t>() >= 1 && ol.get<int64_t>() <= (1 << 24),
                "{}:{}: output_len must be an integer in [1, 16777216] (got {})", name, lineno, ol.dump());
    w.output_len = ol.get<int>();
    out.push_back(std::move(w));
  }
  IGNIS_CHECK(!out.empty(), "{}: the workload has no requests", name);
  return out;
}

std::vector<WorkItem> read_workload(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  IGNIS_CHECK(f.good(), "{}: cannot open the workload file", path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_workload(ss.str(), path.string());
}

std::string workload_line(const WorkItem& w) {
  nlohmann::ordered_json j;
  if (!w.prompt_ids.empty()) j["prompt_ids"] = w.prompt_ids;
  if (!w.prompt.empty()) j["prompt"] = w.prompt;
  j["output_len"] = w.output_len;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void write_workload(const std::filesystem::path& path, const std::vector<WorkItem>& items) {
  std::ofstream f(path, std::ios::binary);
  IGNIS_CHECK(f.good(), "{}: cannot write the workload file", path.string());
  for (const WorkItem& w : items) f << workload_line(w) << '\n';
  IGNIS_CHECK(f.good(), "{}: write failed", path.string());
}

}  // namespace ignis::bench
