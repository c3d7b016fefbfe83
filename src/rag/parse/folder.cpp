// scan_folder: an iterative walk (an explicit stack, no recursion) with POSIX calls, so every
// failure below the root has its errno text. Symlinks are followed; a directory already
// visited (same st_dev + st_ino) is not entered again: "symlink loop" when it is the current
// directory or one above it, else "same directory as <rel>".
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/error.h"
#include "rag/document.h"

namespace ignis::rag {

namespace {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

struct Dir {
  std::string abs;  // path to open
  std::string rel;  // "" for the root
};

std::string join_rel(const std::string& rel, const std::string& name) { return rel.empty() ? name : rel + "/" + name; }

bool is_under(const std::string& rel, const std::string& ancestor) {  // rel is ancestor or below it
  if (ancestor.empty()) return true;
  return rel == ancestor || (rel.size() > ancestor.size() && rel.compare(0, ancestor.size(), ancestor) == 0 &&
                             rel[ancestor.size()] == '/');
}

}  // namespace

FolderScan scan_folder(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::path abs_root = std::filesystem::absolute(root, ec);
  if (ec) abs_root = root;
  abs_root = abs_root.lexically_normal();
  std::string root_str = abs_root.string();
  while (root_str.size() > 1 && root_str.back() == '/') root_str.pop_back();
  struct stat st;
  if (::stat(root_str.c_str(), &st) != 0) IGNIS_FAIL("cannot scan {}: {}", root.string(), errno_text(errno));
  if (!S_ISDIR(st.st_mode)) IGNIS_FAIL("cannot scan {}: not a directory", root.string());

  FolderScan scan;
  std::map<std::pair<dev_t, ino_t>, std::string> visited;  // real directory -> the rel it was first seen at
  visited[{st.st_dev, st.st_ino}] = "";
  std::vector<Dir> stack{{root_str, ""}};
  while (!stack.empty()) {
    const Dir dir = std::move(stack.back());
    stack.pop_back();
    DIR* d = ::opendir(dir.abs.c_str());
    if (!d) {
      scan.skipped.push_back({dir.rel.empty() ? "." : dir.rel, "unreadable: " + errno_text(errno)});
      continue;
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;  // hidden, "." and ".."
      names.emplace_back(e->d_name);
    }
    const int read_errno = errno;
    ::closedir(d);
    if (read_errno != 0)
      scan.skipped.push_back({dir.rel.empty() ? "." : dir.rel, "unreadable: " + errno_text(read_errno)});
    std::sort(names.begin(), names.end());
    std::vector<Dir> subdirs;
    for (const std::string& name : names) {
      const std::string abs = dir.abs == "/" ? "/" + name : dir.abs + "/" + name;
      const std::string rel = join_rel(dir.rel, name);
      struct stat es;
      if (::stat(abs.c_str(), &es) != 0) {
        const int err = errno;
        struct stat ls;
        const bool is_link = ::lstat(abs.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode);
        if (is_link && err == ELOOP) scan.skipped.push_back({rel, "symlink loop"});
        else if (is_link && err == ENOENT) scan.skipped.push_back({rel, "broken symlink"});
        else scan.skipped.push_back({rel, "unreadable: " + errno_text(err)});
        continue;
      }
      if (S_ISDIR(es.st_mode)) {
        const auto [it, fresh] = visited.emplace(std::make_pair(es.st_dev, es.st_ino), rel);
        if (!fresh) {
          if (is_under(dir.rel, it->second)) scan.skipped.push_back({rel, "symlink loop"});
          else scan.skipped.push_back({rel, "same directory as " + (it->second.empty() ? "." : it->second)});
          continue;
        }
        subdirs.push_back({abs, rel});
        continue;
      }
      if (!S_ISREG(es.st_mode)) {
        scan.skipped.push_back({rel, "not a regular file"});
        continue;
      }
      const std::string format = format_of(name);
      if (format.empty()) {
        scan.skipped.push_back({rel, "unsupported format"});
        continue;
      }
      const int fd = ::open(abs.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd < 0) {
        scan.skipped.push_back({rel, "unreadable: " + errno_text(errno)});
        continue;
      }
      ::close(fd);
      scan.files.push_back({std::filesystem::path(abs), rel, static_cast<std::uint64_t>(es.st_size), format});
    }
    // Pushed in reverse so that the walk goes in name order (the result is sorted below anyway).
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(std::move(*it));
  }
  std::sort(scan.files.begin(), scan.files.end(), [](const auto& a, const auto& b) { return a.rel < b.rel; });
  std::sort(scan.skipped.begin(), scan.skipped.end(), [](const auto& a, const auto& b) { return a.rel < b.rel; });
  return scan;
}

}  // namespace ignis::rag
