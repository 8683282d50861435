// `trainflow bench FILE --stage NAME`: runs one stage of a workflow repeatedly on the inputs the
// last run of that workflow stored in the work directory, and compares its speed with the
// machine's memory bandwidth and GEMM peak, measured in the same process.
#pragma once

#include <CLI/CLI.hpp>

namespace trainflow::cli {

// Adds the command; it sets `exit_code` to kExitOk, kExitUsage (bad arguments, an unknown
// stage, no recorded run, inputs not stored) or kExitRunFailed (the stage failed).
void add_bench_command(CLI::App& app, int& exit_code);

}  // namespace trainflow::cli
