// scan_folder over folders built here: sorting, hidden entries, unsupported formats, symlinks
// (loops, aliases, broken), special and unreadable files, and bad roots.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "rag/document.h"
#include "rag_test_util.h"

namespace ignis::rag {
namespace {

namespace fs = std::filesystem;
using test::write_file;

std::vector<std::string> rels(const FolderScan& s) {
  std::vector<std::string> out;
  for (const auto& f : s.files) out.push_back(f.rel);
  return out;
}

std::vector<std::string> skipped(const FolderScan& s) {
  std::vector<std::string> out;
  for (const auto& e : s.skipped) out.push_back(e.rel + ": " + e.reason);
  return out;
}

TEST(RagFolder, RecursiveSortedWithSymlinksAndSkips) {
  test::TempDir dir;
  const fs::path root = dir / "docs";
  write_file(root / "a.txt", "alpha");
  write_file(root / "UPPER.TXT", "upper");
  write_file(root / "b" / "c.md", "# c");
  write_file(root / "b" / "d.jpg", "\xFF\xD8");
  write_file(root / "b" / ".hidden.txt", "hidden");
  write_file(root / ".git" / "config.txt", "hidden dir");
  write_file(root / "b" / "sub" / "e.pdf", "%PDF-");
  write_file(root / "a-b.txt", "dash");  // sorts before "a/..." names by string order
  fs::create_directories(root / "empty");
  fs::create_directory_symlink(".", root / "loop");
  fs::create_directory_symlink("..", root / "b" / "up");
  fs::create_directory_symlink("b", root / "zlink");
  fs::create_symlink("nowhere.txt", root / "broken.txt");
  fs::create_symlink("self.txt", root / "self.txt");
  fs::create_symlink("a.txt", root / "linked.txt");
  ASSERT_EQ(::mkfifo((root / "pipe.txt").c_str(), 0600), 0);

  const FolderScan s = scan_folder(root);
  EXPECT_EQ(rels(s), (std::vector<std::string>{"UPPER.TXT", "a-b.txt", "a.txt", "b/c.md", "b/sub/e.pdf", "linked.txt"}));
  EXPECT_EQ(skipped(s), (std::vector<std::string>{"b/d.jpg: unsupported format", "b/up: symlink loop",
                                                  "broken.txt: broken symlink", "loop: symlink loop",
                                                  "pipe.txt: not a regular file", "self.txt: symlink loop",
                                                  "zlink: same directory as b"}));
  for (const auto& f : s.files) {
    EXPECT_TRUE(f.path.is_absolute()) << f.path;
    EXPECT_EQ(f.path, fs::absolute(root) / f.rel);
  }
  EXPECT_EQ(s.files[0].format, "txt");
  EXPECT_EQ(s.files[0].size, 5u);
  EXPECT_EQ(s.files[3].format, "md");
  EXPECT_EQ(s.files[3].size, 3u);
  EXPECT_EQ(s.files[4].format, "pdf");
  EXPECT_EQ(s.files[5].size, 5u);  // the link's target's size

  // a relative root with a trailing slash gives the same relative names
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  const FolderScan rel_scan = scan_folder("docs/");
  fs::current_path(cwd);
  EXPECT_EQ(rels(rel_scan), rels(s));
  EXPECT_EQ(rel_scan.files[0].path, fs::absolute(root) / "UPPER.TXT");
}

TEST(RagFolder, EmptyFolderAndBadRoots) {
  test::TempDir dir;
  const FolderScan s = scan_folder(dir.path());
  EXPECT_TRUE(s.files.empty());
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_THROW(scan_folder(dir / "missing"), ignis::Error);
  write_file(dir / "file.txt", "x");
  EXPECT_THROW(scan_folder(dir / "file.txt"), ignis::Error);
  try {
    scan_folder(dir / "file.txt");
  } catch (const ignis::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos) << e.what();
  }
}

TEST(RagFolder, RootThroughASymlink) {
  test::TempDir dir;
  write_file(dir / "real" / "x.txt", "x");
  fs::create_directory_symlink("real", dir / "link");
  const FolderScan s = scan_folder(dir / "link");
  EXPECT_EQ(rels(s), (std::vector<std::string>{"x.txt"}));
  EXPECT_TRUE(s.skipped.empty());
  EXPECT_EQ(s.files[0].path, fs::absolute(dir / "link") / "x.txt");  // the path as given, not resolved
}

TEST(RagFolder, UnreadableFileAndDirectory) {
  test::TempDir dir;
  write_file(dir / "ok.txt", "fine");
  write_file(dir / "secret.txt", "s");
  write_file(dir / "locked" / "inside.txt", "i");
  ::chmod((dir / "secret.txt").c_str(), 0);
  ::chmod((dir / "locked").c_str(), 0);
  const FolderScan s = scan_folder(dir.path());
  const int fd = ::open((dir / "secret.txt").c_str(), O_RDONLY);
  if (fd >= 0) {
    ::close(fd);
    // root (CAP_DAC_OVERRIDE) reads through chmod 000: everything is readable then
    EXPECT_EQ(rels(s), (std::vector<std::string>{"locked/inside.txt", "ok.txt", "secret.txt"}));
    GTEST_SKIP() << "running with permission override (root): chmod 000 does not block reads, "
                    "the unreadable-entry assertions are skipped";
  }
  EXPECT_EQ(rels(s), (std::vector<std::string>{"ok.txt"}));
  EXPECT_EQ(skipped(s), (std::vector<std::string>{"locked: unreadable: Permission denied",
                                                  "secret.txt: unreadable: Permission denied"}));
}

}  // namespace
}  // namespace ignis::rag
