// What every `trainflow` command shares: its exit codes and the options each one takes.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace trainflow::cli {

// Exit codes of every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;      // a stage failed or a gate did not pass
inline constexpr int kExitUsage = 2;          // bad arguments, or a workflow file with errors
inline constexpr int kExitInterrupted = 130;  // SIGINT or SIGTERM (128 + SIGINT, as shells do)

// The options every command takes, filled in when the command line is parsed.
struct CommonOptions {
  // --workdir DIR: where runs keep their files. Default ".trainflow" (relative to the current
  // directory). Commands that do not use it yet accept it, so scripts can pass it everywhere.
  std::string workdir = ".trainflow";
  // --json: print one JSON document instead of text; only commands that print results have it.
  bool json = false;
};

// Whether a command has --json.
enum class JsonOutput : bool { kNo, kYes };

// Adds the subcommand `name` to `app` with the common options (--workdir, and --json when `json`
// is kYes), bound to `options`. REQUIRES: `options` outlives the parse and the command's
// callback (keep it in a shared_ptr that the callback captures). Returns the subcommand, owned
// by `app`.
CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description,
                      CommonOptions& options, JsonOutput json);

}  // namespace trainflow::cli
