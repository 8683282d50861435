// `trainflow validate`, `trainflow graph` and `trainflow run`: workflow files through the
// loader, the graph exporter and the executor.
#include "workflow_commands.hpp"

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

#include "trainflow/config/workflow.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/ml/evaluate.hpp"

namespace trainflow::cli {
namespace {

// Exit codes shared by every command.
constexpr int kExitOk = 0;
constexpr int kExitRunFailed = 1;
constexpr int kExitUsage = 2;

struct WorkflowArgs {
  std::string file;
  std::vector<std::string> overrides;
  std::string workdir = ".trainflow";
  bool json = false;
};

void add_workflow_args(CLI::App* cmd, WorkflowArgs& args, bool with_json) {
  cmd->add_option("FILE", args.file, "The workflow file (YAML)")->required();
  cmd->add_option("--set", args.overrides,
                  "Override a parameter: stage.param=value (repeatable)");
  cmd->add_option("--workdir", args.workdir, "Work directory (default .trainflow)");
  if (with_json) cmd->add_flag("--json", args.json, "Print one JSON document");
}

// The workflow, or the loader's errors on stderr and nullopt.
std::optional<config::Workflow> load(const WorkflowArgs& args) {
  config::LoadOptions options;
  options.overrides = args.overrides;
  Result<config::Workflow> wf = config::load_workflow(args.file, options);
  if (!wf) {
    std::cerr << wf.error().message() << "\n";
    return std::nullopt;
  }
  return std::move(*wf);
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

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

int run(const WorkflowArgs& args, unsigned threads) {
  std::optional<config::Workflow> wf = load(args);
  if (!wf) return kExitUsage;
  std::error_code ec;
  std::filesystem::create_directories(args.workdir, ec);
  if (ec) {
    std::cerr << args.workdir << ": cannot create the work directory: " << ec.message() << "\n";
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

  Executor executor{{.threads = threads}};
  const std::string id = run_id();
  const RunReport report = executor.run(wf->graph, {.seed = wf->seed});
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

  if (args.json) {
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
      out["error"] = {{"stage", std::string(report.failed_stage())},
                      {"message", report.error().message()}};
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "run " << id << " of " << wf->name << ": " << to_string(report.status()) << "\n";
    std::cout << std::left << std::setw(40) << "stage" << std::setw(11) << "status"
              << std::right << std::setw(10) << "wall ms" << std::setw(10) << "cpu ms"
              << "  metrics\n";
    for (StageId s = 0; s < workflow_stages; ++s) {
      const StageRecord r = report.stage(s);
      std::ostringstream metrics;
      for (const auto& [name, value] : metrics_of(s)) metrics << name << "=" << value << " ";
      std::cout << std::left << std::setw(40) << r.name << std::setw(11) << to_string(r.status)
                << std::right << std::fixed << std::setprecision(1) << std::setw(10)
                << ms(r.wall) << std::setw(10) << ms(r.cpu) << "  " << metrics.str() << "\n";
    }
    if (!report.ok()) {
      std::cerr << "stage '" << report.failed_stage() << "' failed: " << report.error().message()
                << "\n";
    }
  }
  return report.ok() ? kExitOk : kExitRunFailed;
}

}  // namespace

void add_workflow_commands(CLI::App& app, int& exit_code) {
  auto validate_args = std::make_shared<WorkflowArgs>();
  CLI::App* validate =
      app.add_subcommand("validate", "Check a workflow file; print every problem at once");
  add_workflow_args(validate, *validate_args, false);
  validate->callback([validate_args, &exit_code] {
    std::optional<config::Workflow> wf = load(*validate_args);
    if (!wf) {
      exit_code = kExitUsage;
      return;
    }
    std::cout << validate_args->file << ": ok, " << wf->stages.size() << " stages\n";
  });

  auto graph_args = std::make_shared<WorkflowArgs>();
  auto format = std::make_shared<std::string>("dot");
  CLI::App* graph = app.add_subcommand("graph", "Print a workflow's stage graph");
  add_workflow_args(graph, *graph_args, false);
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

  auto run_args = std::make_shared<WorkflowArgs>();
  auto threads = std::make_shared<unsigned>(0);
  CLI::App* run_cmd = app.add_subcommand("run", "Run a workflow file");
  add_workflow_args(run_cmd, *run_args, true);
  run_cmd->add_option("--threads", *threads, "Worker threads (default: every core)");
  run_cmd->callback([run_args, threads, &exit_code] { exit_code = run(*run_args, *threads); });
}

}  // namespace trainflow::cli
