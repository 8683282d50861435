// `trainflow trace` and `trainflow report` over the run store, and the run's log observer.
#include "observe_commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "command.hpp"
#include "trainflow/observe/report.hpp"
#include "trainflow/observe/trace.hpp"
#include "trainflow/store/run_store.hpp"

namespace trainflow::cli {
namespace {

struct ExportArgs {
  CommonOptions common;
  std::string run;
  std::string output = "-";
};

// The run `prefix` names in the work directory's store, or a message on stderr and nullopt.
std::optional<RunDetails> load_run(const ExportArgs& args) {
  const std::filesystem::path path = std::filesystem::path(args.common.workdir) / "runs.db";
  if (!std::filesystem::exists(path)) {
    std::cerr << args.common.workdir << ": no runs recorded here (no runs.db); pass the --workdir "
              << "of `trainflow run`\n";
    return std::nullopt;
  }
  Result<RunStore> store = RunStore::open(path);
  if (!store) {
    std::cerr << store.error().message() << "\n";
    return std::nullopt;
  }
  Result<std::string> id = store->resolve_id(args.run);
  if (!id) {
    std::cerr << id.error().message() << "\n";
    return std::nullopt;
  }
  Result<RunDetails> run = store->run(*id);
  if (!run) {
    std::cerr << run.error().message() << "\n";
    return std::nullopt;
  }
  return std::move(*run);
}

// Writes `text` to `output` ("-": stdout) through a temporary file renamed into place, so a
// reader never sees half a file. False, with a message on stderr, when that fails.
bool write_output(const std::string& output, const std::string& text) {
  if (output == "-") {
    std::cout << text;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  const std::filesystem::path path(output);
  const std::filesystem::path temp =
      path.string() + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
      std::cerr << "cannot write " << output << ": " << std::strerror(errno)
                << "; check that its directory exists and is writable\n";
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    std::cerr << "cannot write " << output << ": " << ec.message() << "\n";
    return false;
  }
  return true;
}

int export_run(const ExportArgs& args, const char* what,
               const std::function<std::string(const RunDetails&)>& render) {
  std::optional<RunDetails> run = load_run(args);
  if (!run) return kExitUsage;
  if (!write_output(args.output, render(*run))) return kExitRunFailed;
  if (args.output != "-") {
    std::cerr << what << " of run " << run->summary.info.id << " written to " << args.output
              << "\n";
  }
  return kExitOk;
}

CLI::App* add_export_command(CLI::App& app, const std::string& name, const std::string& description,
                             ExportArgs& args, const std::string& example) {
  CLI::App* cmd = add_command(app, name, description, args.common, JsonOutput::kNo);
  cmd->add_option("RUN", args.run, "A run id, or a unique prefix of one")->required();
  cmd->add_option("-o,--output", args.output,
                  "Write to this file (default -: stdout), e.g. " + example)
      ->type_name("FILE");
  return cmd;
}

}  // namespace

void add_observe_commands(CLI::App& app, int& exit_code) {
  auto trace_args = std::make_shared<ExportArgs>();
  add_export_command(app, "trace",
                     "Write a recorded run as a Chrome trace (JSON for Perfetto or "
                     "chrome://tracing): a track per worker, stages, queue waits, retries",
                     *trace_args, "trace.json")
      ->callback([trace_args, &exit_code] {
        exit_code = export_run(*trace_args, "trace",
                               [](const RunDetails& run) { return observe::chrome_trace(run); });
      });

  auto report_args = std::make_shared<ExportArgs>();
  add_export_command(app, "report",
                     "Write a recorded run as one self-contained HTML page: summary, stage graph, "
                     "timeline, resources, metrics and training curves",
                     *report_args, "report.html")
      ->callback([report_args, &exit_code] {
        exit_code = export_run(*report_args, "report",
                               [](const RunDetails& run) { return observe::html_report(run); });
      });
}

void add_log_settings(CLI::App* cmd, LogSettings& settings) {
  cmd->add_option("--log-format", settings.format,
                  "Log lines as text (default) or json; logs go to <workdir>/logs/<run id>/")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--log-level", settings.level,
                  "Lowest level logged (default info); the text console shows warnings and errors")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error"}));
}

std::shared_ptr<observe::LogObserver> make_log_observer(const LogSettings& settings,
                                                        const std::string& workdir) {
  observe::LogOptions options;
  options.directory = std::filesystem::path(workdir) / "logs";
  options.format = observe::parse_log_format(settings.format).value_or(observe::LogFormat::kText);
  options.file_level = observe::parse_log_level(settings.level).value_or(LogLevel::kInfo);
  options.console = &std::cerr;
  options.console_level = options.format == observe::LogFormat::kJson
                              ? options.file_level
                              : std::max(options.file_level, LogLevel::kWarn);
  return std::make_shared<observe::LogObserver>(std::move(options));
}

void report_log_problems(const observe::LogObserver& log) {
  if (const Status s = log.status(); !s.ok()) {
    std::cerr << "warning: the run's logs are incomplete: " << s.message() << "\n";
  }
}

}  // namespace trainflow::cli
