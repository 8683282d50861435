// `trainflow validate`, `trainflow graph`, `trainflow run`, and what `run` shares with `resume`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "observe_commands.hpp"
#include "serve_option.hpp"
#include "trainflow/config/workflow.hpp"

namespace trainflow::cli {

// Adds the commands; a command sets `exit_code` to one of the kExit* codes of command.hpp.
void add_workflow_commands(CLI::App& app, int& exit_code);

// How a loaded workflow is run and reported.
struct RunSettings {
  std::string workdir = ".trainflow";
  bool json = false;
  unsigned threads = 0;  // 0: every core
  bool no_progress = false;
  bool no_cache = false;
  std::vector<std::string> force{};
  bool verify = false;
  std::string run_id{};  // empty: a new run
  bool resume = false;   // run_id names a recorded run to finish
  std::string manifest_source_json{};
  ServeSettings serve{};  // --serve, --serve-token, --serve-linger
  LogSettings log{};  // --log-format, --log-level
};

// --threads, --no-progress, --log-format and --log-level.
void add_run_settings(CLI::App* cmd, RunSettings& settings);

// Runs `wf` with the cache and run store of settings.workdir, watching SIGINT/SIGTERM and drawing
// the progress line; prints the table (or the JSON document) and returns the exit code.
// REQUIRES: block_interrupt_signals() was called on this thread.
int run_loaded(config::Workflow wf, const RunSettings& settings);

// The manifest's "source": the workflow file's absolute path and text, the overrides and the
// working directory, as a JSON object.
std::string manifest_source(const std::string& file, const std::vector<std::string>& overrides);

}  // namespace trainflow::cli
