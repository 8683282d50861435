// `trainflow validate`, `trainflow graph` and `trainflow run`: workflow files through the
// loader, the graph exporter and the executor.
#include "workflow_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "run_watch.hpp"
#include "trainflow/config/workflow.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/ml/evaluate.hpp"

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

std::string run_id() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&t, &utc);
  std::ostringstream out;
  out << std::put_time(&utc, "%Y%m%dT%H%M%SZ") << '-' << std::hex << std::setw(6)
      << std::setfill('0') << (std::random_device{}() & 0xffffffU);
  return out.str();
}

double ms(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e6;
}

struct RunArgs {
  WorkflowArgs workflow;
  unsigned threads = 0;
  bool no_progress = false;
};

int run(const RunArgs& run_args) {
  const WorkflowArgs& args = run_args.workflow;
  // From here on SIGINT and SIGTERM wait for the RunWatch, which cancels the run.
  block_interrupt_signals();
  std::optional<config::Workflow> wf = load(args);
  if (!wf) return kExitUsage;
  std::error_code ec;
  std::filesystem::create_directories(args.common.workdir, ec);
  if (ec) {
    std::cerr << args.common.workdir << ": cannot create the work directory: " << ec.message()
              << "\n";
    return kExitUsage;
  }

  // Values with consumers are released after their last one; a sink per metrics output keeps
  // what the report prints.
  struct Kept {
    StageId stage;
    StageId sink;
  };
  std::vector<Kept> kept;
  const std::size_t workflow_stages = wf->graph.size();
  for (StageId id = 0; id < workflow_stages; ++id) {
    const StageSpec& spec = wf->graph.stage(id);
    for (std::uint32_t port = 0; port < spec.outputs.size(); ++port) {
      if (spec.outputs[port].type != type_id<ml::Metrics>()) continue;
      const StageId sink = wf->graph.add_stage(make_stage_spec<ml::Metrics>(
          StageOptions{.name = "metrics of " + spec.name + "." + spec.outputs[port].name},
          [](const ml::Metrics& m) { return m; }));
      wf->graph.connect({id, port}, {sink, 0});
      kept.push_back({id, sink});
    }
  }

  Executor executor{{.threads = run_args.threads}};
  const std::string id = run_id();
  const RunHandle handle = executor.submit(wf->graph, {.seed = wf->seed});
  bool interrupted = false;
  {
    // The progress line counts the workflow's stages, not the metrics sinks added above.
    RunWatch watch{handle, !args.common.json && !run_args.no_progress && isatty(STDOUT_FILENO),
                   workflow_stages};
    handle.wait();
    watch.stop();
    interrupted = watch.interrupted();
  }
  const RunReport& report = handle.wait();
  const auto metrics_of = [&](StageId stage) {
    ml::Metrics out;
    for (const Kept& k : kept) {
      if (k.stage != stage) continue;
      if (const Value* v = report.output({k.sink, 0})) {
        for (const auto& [name, value] : v->get<ml::Metrics>()) out[name] = value;
      }
    }
    return out;
  };

  if (args.common.json) {
    nlohmann::json stages = nlohmann::json::array();
    for (StageId s = 0; s < workflow_stages; ++s) {
      const StageRecord r = report.stage(s);
      stages.push_back({{"name", std::string(r.name)},
                        {"type", wf->stages[s].type},
                        {"status", std::string(to_string(r.status))},
                        {"attempts", r.attempts},
                        {"wall_ms", ms(r.wall)},
                        {"cpu_ms", ms(r.cpu)},
                        {"metrics", metrics_of(s)}});
    }
    nlohmann::json out = {{"run_id", id},
                          {"workflow", wf->name},
                          {"status", std::string(to_string(report.status()))},
                          {"seed", wf->seed},
                          {"stages", std::move(stages)}};
    if (!report.ok()) {
      out["error"] = {{"message", report.error().message()}};
      if (!report.failed_stage().empty()) {
        out["error"]["stage"] = std::string(report.failed_stage());
      }
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "run " << id << " of " << wf->name << ": " << to_string(report.status()) << "\n";
    std::cout << std::left << std::setw(40) << "stage" << std::setw(11) << "status" << std::right
              << std::setw(10) << "wall ms" << std::setw(10) << "cpu ms"
              << "  metrics\n";
    for (StageId s = 0; s < workflow_stages; ++s) {
      const StageRecord r = report.stage(s);
      std::ostringstream metrics;
      for (const auto& [name, value] : metrics_of(s)) metrics << name << "=" << value << " ";
      std::cout << std::left << std::setw(40) << r.name << std::setw(11) << to_string(r.status)
                << std::right << std::fixed << std::setprecision(1) << std::setw(10) << ms(r.wall)
                << std::setw(10) << ms(r.cpu) << "  " << metrics.str() << "\n";
    }
    // The error names the failed stage, if any ("stage 'gate' failed: ...").
    if (!report.ok()) std::cerr << report.error().message() << "\n";
  }
  if (interrupted) return kExitInterrupted;
  return report.ok() ? kExitOk : kExitRunFailed;
}

}  // namespace

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
  run_cmd->add_option("--threads", run_args->threads, "Worker threads (default: every core)");
  run_cmd->add_flag("--no-progress", run_args->no_progress,
                    "No live progress line (it is shown only when stdout is a terminal and "
                    "--json is not given)");
  run_cmd->callback([run_args, &exit_code] { exit_code = run(*run_args); });
}

}  // namespace trainflow::cli
