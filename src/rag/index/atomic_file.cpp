// ignis rag: fsync + rename for the index's derived files (see rag/index.h).
#include "rag/index/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace ignis::rag {

void fsync_and_rename(const std::filesystem::path& tmp, const std::filesystem::path& file) {
  int fd = ::open(tmp.c_str(), O_RDONLY);
  bool synced = fd >= 0 && ::fsync(fd) == 0;
  int e = errno;
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  if (!synced) {
    std::filesystem::remove(tmp, ec);
    IGNIS_FAIL("{}: fsync failed: {}", tmp.string(), std::strerror(e));
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    std::error_code rm;
    std::filesystem::remove(tmp, rm);
    IGNIS_FAIL("{}: cannot rename into place: {}", file.string(), ec.message());
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace ignis::rag
