#include "command.hpp"

namespace trainflow::cli {

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description,
                      CommonOptions& options, JsonOutput json) {
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->add_option("--workdir", options.workdir, "Work directory (default .trainflow)")
      ->type_name("DIR");
  if (json == JsonOutput::kYes) cmd->add_flag("--json", options.json, "Print one JSON document");
  return cmd;
}

}  // namespace trainflow::cli
