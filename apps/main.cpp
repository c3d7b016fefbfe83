// ignis: one binary, several subcommands (generate, chat, info, tokenize, serve, bench, eval).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "command.h"
#include "core/error.h"
#include "core/log.h"

namespace ignis::cli {
std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> r;
  return r;
}
}  // namespace ignis::cli

static void usage() {
  std::fprintf(stderr, "usage: ignis <command> [options]\n\ncommands:\n");
  for (auto& [name, c] : ignis::cli::registry()) std::fprintf(stderr, "  %-10s %s\n", name.c_str(), c.help.c_str());
  std::fprintf(stderr, "\n'ignis <command> --help' for the options of a command.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  auto& reg = ignis::cli::registry();
  auto it = reg.find(argv[1]);
  if (it == reg.end()) {
    std::fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
  }
  // IGNIS_LOG_LEVEL=debug|info|warn|error: the log level's default (the library never reads it).
  if (const char* lv = std::getenv("IGNIS_LOG_LEVEL")) {
    const std::string l = lv;
    if (l == "debug") ignis::set_log_level(ignis::LogLevel::Debug);
    else if (l == "info") ignis::set_log_level(ignis::LogLevel::Info);
    else if (l == "warn") ignis::set_log_level(ignis::LogLevel::Warn);
    else if (l == "error") ignis::set_log_level(ignis::LogLevel::Error);
    else std::fprintf(stderr, "warning: IGNIS_LOG_LEVEL=%s is not debug, info, warn or error; ignored\n", lv);
  }
  std::string prog = std::string("ignis ") + argv[1];
  argv[1] = prog.data();
  try {
    return it->second.run(argc - 1, argv + 1);
  } catch (const ignis::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
