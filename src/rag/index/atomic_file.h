// ignis rag (internal): writing a file under a temporary name, then fsync and rename into place.
#pragma once
#include <filesystem>

namespace ignis::rag {

// fsyncs `tmp` and renames it to `file`; removes `tmp` and throws Error on failure.
void fsync_and_rename(const std::filesystem::path& tmp, const std::filesystem::path& file);
// fsyncs a directory (its entries after renames); best effort.
void fsync_dir(const std::filesystem::path& dir);

}  // namespace ignis::rag
