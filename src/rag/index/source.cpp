// ignis rag: the default index source, the folder walk and the parsers of rag/document.h.
#include "rag/index.h"

namespace ignis::rag {

IndexSource default_source(const ParseLimits& limits) {
  IndexSource s;
  s.scan = [](const std::filesystem::path& root) { return scan_folder(root); };
  s.parse = [limits](const FolderEntry& e) { return parse_file(e.path, limits); };
  return s;
}

}  // namespace ignis::rag
