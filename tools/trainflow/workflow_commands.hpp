// `trainflow validate`, `trainflow graph`, `trainflow run`.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

// Adds the commands; a command sets `exit_code` (0 success, 1 the run failed, 2 usage or
// configuration error).
void add_workflow_commands(CLI::App& app, int& exit_code);

}  // namespace trainflow::cli
