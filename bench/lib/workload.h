// ignis bench: the JSONL workload every mode reads. One JSON object per line:
//   {"prompt_ids": [1, 2, 3], "output_len": 128}           token ids (preferred: exact lengths)
//   {"prompt": "text ...", "output_len": 128}               text (tokenized by the consumer)
// Both may be present (ids win in-process; serve sends ids unless --send-text). Blank lines and
// lines starting with '#' are skipped. Errors name the file and line.
#pragma once
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace ignis::bench {

struct WorkItem {
  std::vector<int32_t> prompt_ids;
  std::string prompt;
  int output_len = 0;
};

std::vector<WorkItem> parse_workload(const std::string& text, const std::string& name_for_errors);
std::vector<WorkItem> read_workload(const std::filesystem::path& path);
std::string workload_line(const WorkItem& w);  // one JSON line, no newline
void write_workload(const std::filesystem::path& path, const std::vector<WorkItem>& items);

}  // namespace ignis::bench
