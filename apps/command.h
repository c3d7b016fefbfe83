// ignis CLI: subcommand registry. Each apps/cmd_<name>.cpp defines
//   static int run_<name>(int argc, char** argv);
//   IGNIS_COMMAND(name, "one-line help", run_<name>);
// argv[0] is "ignis <name>". A command returns the process exit code; an
// ignis::Error escaping it is printed as "error: ..." with exit code 1 by main().
#pragma once
#include <functional>
#include <map>
#include <string>

namespace ignis::cli {

struct Command {
  std::string help;
  std::function<int(int, char**)> run;
};

std::map<std::string, Command>& registry();

struct Registrar {
  Registrar(const char* name, const char* help, std::function<int(int, char**)> fn) {
    registry()[name] = Command{help, std::move(fn)};
  }
};

}  // namespace ignis::cli

#define IGNIS_COMMAND(name, help, fn) static ::ignis::cli::Registrar ignis_cmd_registrar_##name(#name, help, fn)
