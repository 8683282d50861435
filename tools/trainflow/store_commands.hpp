// `trainflow runs`, `trainflow show RUN`, `trainflow diff RUN_A RUN_B` and `trainflow resume RUN`:
// the run store of a work directory.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

// Adds the commands; a command sets `exit_code` to one of the kExit* codes of command.hpp.
void add_store_commands(CLI::App& app, int& exit_code);

}  // namespace trainflow::cli
