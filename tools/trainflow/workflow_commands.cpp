// `trainflow validate`, `trainflow graph` and `trainflow run`: workflow files through the
// loader, the graph exporter and the executor.
#include "workflow_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "run_watch.hpp"
#include "trainflow/config/workflow.hpp"
#include "trainflow/config/workflow_run.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/resources/machine.hpp"

namespace trainflow::cli {
namespace {

struct WorkflowArgs {
  CommonOptions common;
  std::string file;
  std::vector<std::string> overrides;
};

// A command on a workflow file: the common options, FILE and --set.
CLI::App* add_workflow_command(CLI::App& app, const std::string& name,
                               const std::string& description, WorkflowArgs& args,
                               JsonOutput json) {
  CLI::App* cmd = add_command(app, name, description, args.common, json);
  cmd->add_option("FILE", args.file, "The workflow file (YAML)")->required();
  cmd->add_option("--set", args.overrides, "Override a parameter: stage.param=value (repeatable)");
  return cmd;
}

Result<config::Workflow> load_result(const WorkflowArgs& args) {
  config::LoadOptions options;
  options.overrides = args.overrides;
  return config::load_workflow(args.file, options);
}

// The workflow, or the loader's errors on stderr and nullopt.
std::optional<config::Workflow> load(const WorkflowArgs& args) {
  Result<config::Workflow> wf = load_result(args);
  if (!wf) {
    std::cerr << wf.error().message() << "\n";
    return std::nullopt;
  }
  return std::move(*wf);
}

int validate(const WorkflowArgs& args) {
  Result<config::Workflow> wf = load_result(args);
  if (!args.common.json) {
    if (!wf) {
      std::cerr << wf.error().message() << "\n";
      return kExitUsage;
    }
    std::cout << args.file << ": ok, " << wf->stages.size() << " stages\n";
    return kExitOk;
  }
  // The loader reports one problem per line.
  nlohmann::ordered_json errors = nlohmann::ordered_json::array();
  if (!wf) {
    std::istringstream lines{wf.error().message()};
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) errors.push_back(line);
    }
  }
  const nlohmann::ordered_json out = {
      {"file", args.file},
      {"ok", wf.has_value()},
      {"stages", wf ? nlohmann::ordered_json(wf->stages.size()) : nullptr},
      {"errors", std::move(errors)}};
  std::cout << out.dump(2) << "\n";
  return wf ? kExitOk : kExitUsage;
}

struct RunArgs {
  WorkflowArgs workflow;
  RunSettings settings;
};

int run(const RunArgs& run_args) {
  const WorkflowArgs& args = run_args.workflow;
  // From here on SIGINT and SIGTERM wait for the RunWatch, which cancels the run.
  block_interrupt_signals();
  std::optional<config::Workflow> wf = load(args);
  if (!wf) return kExitUsage;
  RunSettings settings = run_args.settings;
  settings.workdir = args.common.workdir;
  settings.json = args.common.json;
  settings.manifest_source_json = manifest_source(args.file, args.overrides);
  return run_loaded(std::move(*wf), settings);
}

}  // namespace

void add_run_settings(CLI::App* cmd, RunSettings& settings) {
  cmd->add_option("--threads", settings.threads, "Worker threads (default: every core)");
  cmd->add_flag("--no-progress", settings.no_progress,
                "No live progress line (it is shown only when stdout is a terminal and "
                "--json is not given)");
  add_serve_options(cmd, settings.serve);
  add_log_settings(cmd, settings.log);
}

std::string manifest_source(const std::string& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(file, ec);
  std::error_code cwd_error;
  const std::filesystem::path cwd = std::filesystem::current_path(cwd_error);
  return nlohmann::json{{"file", ec ? file : absolute.string()},
                        {"text", text},
                        {"overrides", overrides},
                        {"cwd", cwd_error ? std::string() : cwd.string()}}
      .dump();
}

int run_loaded(config::Workflow wf, const RunSettings& settings) {
  const std::size_t workflow_stages = wf.graph.size();
  const std::string workflow_name = wf.name;
  const std::uint64_t seed = wf.seed;
  std::optional<RunWatch> watch;
  config::WorkflowRunOptions options{.workdir = settings.workdir,
                                     .threads = settings.threads,
                                     .cache = !settings.no_cache,
                                     .force = settings.force,
                                     .verify = settings.verify,
                                     .run_id = settings.run_id,
                                     .resume = settings.resume,
                                     .manifest_source_json = settings.manifest_source_json};
  // Stages are admitted against what this process may use: its cores, the available memory
  // and the GPUs the driver reports.
  options.capacity = capacity_of(detect_machine(), settings.threads);
  const std::shared_ptr<observe::LogObserver> log =
      make_log_observer(settings.log, settings.workdir);
  options.observers.push_back(log);
  Result<std::unique_ptr<ServeSession>> serve = start_serve(settings.serve, wf.graph);
  if (!serve) {
    std::cerr << serve.error().message() << "\n";
    return kExitUsage;
  }
  if (*serve) options.observers.push_back((*serve)->status);
  const bool progress = !settings.json && !settings.no_progress && isatty(STDOUT_FILENO);
  options.on_start = [&](const RunHandle& handle) {
    watch.emplace(handle, progress, workflow_stages);
  };
  Result<config::WorkflowRun> result = config::run_workflow(std::move(wf), options);
  bool interrupted = false;
  if (watch) {
    watch->stop();
    interrupted = watch->interrupted();
  }
  report_log_problems(*log);
  if (!result) {
    std::cerr << result.error().message() << "\n";
    return result.error().code() == StatusCode::kNotFound ? kExitUsage : kExitRunFailed;
  }
  const RunReport& report = result->report;
  if (settings.json) {
    nlohmann::json stages = nlohmann::json::array();
    for (const config::StageOutcome& s : result->stages) {
      nlohmann::json stage = {{"name", s.name},
                              {"type", s.type},
                              {"status", std::string(to_string(s.status))},
                              {"attempts", s.attempts},
                              {"wall_ms", s.wall_ms},
                              {"cpu_ms", s.cpu_ms},
                              {"cache", std::string(to_string(s.cache))},
                              {"metrics", s.metrics}};
      if (s.cache_key) stage["cache_key"] = s.cache_key->hex();
      if (!s.note.empty()) stage["note"] = s.note;
      stages.push_back(std::move(stage));
    }
    nlohmann::json out = {{"run_id", result->run_id},
                          {"workflow", workflow_name},
                          {"status", std::string(to_string(report.status()))},
                          {"seed", seed},
                          {"workdir", settings.workdir},
                          {"stages", std::move(stages)}};
    if (!report.ok()) {
      out["error"] = {{"message", report.error().message()}};
      if (!report.failed_stage().empty()) {
        out["error"]["stage"] = std::string(report.failed_stage());
      }
    }
    if (settings.verify) out["not_deterministic"] = result->mismatches;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "run " << result->run_id << " of " << workflow_name << ": "
              << to_string(report.status()) << "\n";
    std::cout << std::left << std::setw(40) << "stage" << std::setw(11) << "status" << std::setw(14)
              << "cache" << std::right << std::setw(10) << "wall ms" << std::setw(10) << "cpu ms"
              << "  metrics\n";
    for (const config::StageOutcome& s : result->stages) {
      std::ostringstream metrics;
      for (const auto& [name, value] : s.metrics) metrics << name << "=" << value << " ";
      std::cout << std::left << std::setw(40) << s.name << std::setw(11) << to_string(s.status)
                << std::setw(14) << to_string(s.cache) << std::right << std::fixed
                << std::setprecision(1) << std::setw(10) << s.wall_ms << std::setw(10) << s.cpu_ms
                << "  " << metrics.str() << "\n";
      if (!s.note.empty()) std::cout << "    " << s.note << "\n";
    }
    // The error names the failed stage, if any ("stage 'gate' failed: ...").
    if (!report.ok()) std::cerr << report.error().message() << "\n";
    if (settings.verify && !result->mismatches.empty()) {
      std::cerr << "not deterministic:";
      for (const std::string& name : result->mismatches) std::cerr << " " << name;
      std::cerr << "\n";
    }
  }
  if (interrupted) return kExitInterrupted;
  if (*serve) (*serve)->linger();
  if (settings.verify && !result->mismatches.empty()) return kExitRunFailed;
  return report.ok() ? kExitOk : kExitRunFailed;
}

void add_workflow_commands(CLI::App& app, int& exit_code) {
  auto validate_args = std::make_shared<WorkflowArgs>();
  add_workflow_command(app, "validate", "Check a workflow file; print every problem at once",
                       *validate_args, JsonOutput::kYes)
      ->callback([validate_args, &exit_code] { exit_code = validate(*validate_args); });

  auto graph_args = std::make_shared<WorkflowArgs>();
  auto format = std::make_shared<std::string>("dot");
  CLI::App* graph = add_workflow_command(app, "graph", "Print a workflow's stage graph",
                                         *graph_args, JsonOutput::kNo);
  graph->add_option("--format", *format, "dot, or svg (through Graphviz's dot)")
      ->check(CLI::IsMember({"dot", "svg"}));
  graph->callback([graph_args, format, &exit_code] {
    std::optional<config::Workflow> wf = load(*graph_args);
    if (!wf) {
      exit_code = kExitUsage;
      return;
    }
    const std::string dot = wf->graph.to_dot();
    if (*format == "dot") {
      std::cout << dot;
      return;
    }
    if (std::system("command -v dot >/dev/null 2>&1") != 0) {
      std::cerr << "trainflow graph --format svg needs Graphviz's `dot` on the PATH (Debian "
                   "package graphviz); --format dot prints the graph without it\n";
      exit_code = kExitUsage;
      return;
    }
    FILE* pipe = popen("dot -Tsvg", "w");
    if (!pipe) {
      exit_code = kExitUsage;
      return;
    }
    std::fwrite(dot.data(), 1, dot.size(), pipe);
    if (pclose(pipe) != 0) exit_code = kExitRunFailed;
  });

  auto run_args = std::make_shared<RunArgs>();
  CLI::App* run_cmd = add_workflow_command(
      app, "run",
      "Run a workflow file. SIGINT or SIGTERM cancels the run (exit code 130); a second one "
      "exits at once",
      run_args->workflow, JsonOutput::kYes);
  add_run_settings(run_cmd, run_args->settings);
  run_cmd->add_flag("--no-cache", run_args->settings.no_cache,
                    "Read nothing from the cache: every stage runs (results are still stored)");
  run_cmd->add_option("--force", run_args->settings.force,
                      "Run this stage even when its result is stored (repeatable; a sweep's "
                      "name forces every trial)");
  run_cmd->add_flag("--verify", run_args->settings.verify,
                    "Run stored stages again and compare their outputs bit for bit; exit 1 "
                    "naming any stage that is not deterministic");
  run_cmd->callback([run_args, &exit_code] { exit_code = run(*run_args); });
}

}  // namespace trainflow::cli
