// trainflow: the command-line tool. It parses arguments and calls the library.
#include <CLI/CLI.hpp>
#include <iostream>

#include "bench_command.hpp"
#include "command.hpp"
#include "machine_command.hpp"
#include "observe_commands.hpp"
#include "stages_command.hpp"
#include "store_commands.hpp"
#include "trainflow/version.hpp"
#include "workflow_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "trainflow: typed machine-learning training pipelines.\n"
      "Run, check and draw workflow files; list the stage types.",
      "trainflow"};
  app.set_version_flag("--version", std::string("trainflow ") + trainflow::kVersion);
  app.require_subcommand(0, 1);
  int exit_code = trainflow::cli::kExitOk;
  trainflow::cli::add_stages_command(app);
  trainflow::cli::add_workflow_commands(app, exit_code);
  trainflow::cli::add_store_commands(app, exit_code);
  trainflow::cli::add_observe_commands(app, exit_code);
  trainflow::cli::add_machine_command(app, exit_code);
  trainflow::cli::add_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes are mapped onto kExitUsage; --help and --version exit with kExitOk.
    const int code = app.exit(e);
    return code == 0 ? trainflow::cli::kExitOk : trainflow::cli::kExitUsage;
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  return exit_code;
}
