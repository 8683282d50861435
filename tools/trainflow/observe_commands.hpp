// `trainflow trace RUN` and `trainflow report RUN`: a recorded run as a Chrome trace or an HTML
// page; and the logging options of `trainflow run` and `resume` (--log-format, --log-level).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "trainflow/observe/logging.hpp"

namespace trainflow::cli {

// Adds the commands; a command sets `exit_code` to one of the kExit* codes of command.hpp.
void add_observe_commands(CLI::App& app, int& exit_code);

// How a run logs. Files under `<workdir>/logs/<run id>/` get every line at `level` and above;
// the console (stderr) gets, in the text format, warnings and errors only (or `level` when that
// is higher: the progress line and the result table stay readable), and in the json format every
// line at `level` and above (for log collectors; stdout keeps the table or the --json document).
struct LogSettings {
  std::string format = "text";  // --log-format: text or json
  std::string level = "info";   // --log-level: trace, debug, info, warn or error
};

// --log-format and --log-level, checked at parse time.
void add_log_settings(CLI::App* cmd, LogSettings& settings);

// The observer that writes the run's logs as `settings` say, under `<workdir>/logs`.
std::shared_ptr<observe::LogObserver> make_log_observer(const LogSettings& settings,
                                                        const std::string& workdir);

// After the run: a warning on stderr when some log could not be written (the run is unaffected).
void report_log_problems(const observe::LogObserver& log);

}  // namespace trainflow::cli
