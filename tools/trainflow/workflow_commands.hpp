// `trainflow validate`, `trainflow graph`, `trainflow run`.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

// Adds the commands; a command sets `exit_code` to one of the kExit* codes of command.hpp.
void add_workflow_commands(CLI::App& app, int& exit_code);

}  // namespace trainflow::cli
