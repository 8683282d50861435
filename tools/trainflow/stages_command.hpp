// `trainflow stages`.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

void add_stages_command(CLI::App& app);

}  // namespace trainflow::cli
