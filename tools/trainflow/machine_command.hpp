// `trainflow machine`: the cores, NUMA nodes, memory and GPUs this process may use.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

// Adds the command; it sets `exit_code` to kExitOk (detection never fails: what cannot be read
// is printed as unknown, with a note).
void add_machine_command(CLI::App& app, int& exit_code);

}  // namespace trainflow::cli
