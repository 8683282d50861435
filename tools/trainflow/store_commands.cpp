// `trainflow runs`, `show`, `diff` and `resume`: reading the run store, and finishing a run from
// its manifest.
#include "store_commands.hpp"

#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "run_watch.hpp"
#include "trainflow/config/workflow.hpp"
#include "trainflow/store/run_store.hpp"
#include "workflow_commands.hpp"

namespace trainflow::cli {
namespace {

// The work directory's run store, or a message on stderr and nullopt. A work directory without
// one has no runs: that is a usage error, not an empty list, for every command but `runs`.
std::optional<RunStore> open_store(const CommonOptions& common, bool must_exist) {
  const std::filesystem::path path = std::filesystem::path(common.workdir) / "runs.db";
  if (!std::filesystem::exists(path)) {
    if (must_exist) {
      std::cerr << common.workdir << ": no runs recorded here (no runs.db); pass the --workdir of "
                << "`trainflow run`\n";
    }
    return std::nullopt;
  }
  Result<RunStore> store = RunStore::open(path);
  if (!store) {
    std::cerr << store.error().message() << "\n";
    return std::nullopt;
  }
  return std::move(*store);
}

std::optional<std::string> resolve(const RunStore& store, const std::string& prefix) {
  Result<std::string> id = store.resolve_id(prefix);
  if (!id) {
    std::cerr << id.error().message() << "\n";
    return std::nullopt;
  }
  return *id;
}

std::string utc(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
  return out.str();
}

nlohmann::json value_json(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json summary_json(const RunSummary& s) {
  nlohmann::json j = {
      {"run_id", s.info.id}, {"workflow", s.info.workflow},          {"status", s.status},
      {"seed", s.info.seed}, {"started_ms", s.info.started_ms},      {"threads", s.info.threads},
      {"host", s.info.host}, {"trainflow", s.info.trainflow_version}};
  if (s.ended_ms) j["ended_ms"] = *s.ended_ms;
  if (s.cost) j["cost"] = *s.cost;
  if (!s.error.empty()) j["error"] = {{"message", s.error}, {"stage", s.failed_stage}};
  return j;
}

// A stage's accounting, each field only where it was measured; `series` the metrics it
// reported with steps (live curves), by name, in recording order.
void add_accounting(nlohmann::json& stage, const StoredStage& s) {
  const auto put = [&](const char* key, const auto& value) {
    if (value) stage[key] = *value;
  };
  put("queue_wait_ms", s.queue_wait_ms);
  put("threads", s.threads);
  if (s.gpus > 0) stage["gpus"] = s.gpus;
  put("peak_rss_growth_bytes", s.peak_rss_growth_bytes);
  put("bytes_read", s.bytes_read);
  put("bytes_written", s.bytes_written);
  put("gpu_ms", s.gpu_ms);
  put("gpu_memory_bytes", s.gpu_memory_bytes);
  put("cost", s.cost);
  nlohmann::json series = nlohmann::json::object();
  for (const StageMetric& m : s.metrics) {
    if (m.step) series[m.name].push_back({{"step", *m.step}, {"value", value_json(m.value)}});
  }
  if (!series.empty()) stage["series"] = std::move(series);
}

int runs(const CommonOptions& common) {
  std::optional<RunStore> store = open_store(common, false);
  std::vector<RunSummary> list;
  if (store) {
    Result<std::vector<RunSummary>> got = store->runs(50);
    if (!got) {
      std::cerr << got.error().message() << "\n";
      return kExitRunFailed;
    }
    list = std::move(*got);
  }
  if (common.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const RunSummary& s : list) out.push_back(summary_json(s));
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(26) << "run" << std::setw(20) << "workflow" << std::setw(12)
            << "status" << std::setw(21) << "started (UTC)" << std::right << std::setw(10)
            << "seconds"
            << "\n";
  for (const RunSummary& s : list) {
    std::cout << std::left << std::setw(26) << s.info.id << std::setw(20) << s.info.workflow
              << std::setw(12) << s.status << std::setw(21) << utc(s.info.started_ms) << std::right
              << std::setw(10);
    if (s.ended_ms) {
      std::cout << std::fixed << std::setprecision(1)
                << static_cast<double>(*s.ended_ms - s.info.started_ms) / 1e3;
    } else {
      std::cout << "-";
    }
    std::cout << "\n";
  }
  return kExitOk;
}

int show(const CommonOptions& common, const std::string& prefix) {
  std::optional<RunStore> store = open_store(common, true);
  if (!store) return kExitUsage;
  std::optional<std::string> id = resolve(*store, prefix);
  if (!id) return kExitUsage;
  Result<RunDetails> run = store->run(*id);
  if (!run) {
    std::cerr << run.error().message() << "\n";
    return kExitUsage;
  }
  if (common.json) {
    nlohmann::json stages = nlohmann::json::array();
    for (const StoredStage& s : run->stages) {
      nlohmann::json metrics = nlohmann::json::object();
      for (const StageMetric& m : s.metrics) {
        if (!m.step) metrics[m.name] = value_json(m.value);
      }
      nlohmann::json outputs = nlohmann::json::object();
      for (const StageOutput& o : s.outputs) outputs[o.port] = o.digest.hex();
      nlohmann::json stage = {{"name", s.name},           {"type", s.type},
                              {"status", s.status},       {"attempts", s.attempts},
                              {"wall_ms", s.wall_ms},     {"cpu_ms", s.cpu_ms},
                              {"cache", s.cache_outcome}, {"params", s.params_canonical},
                              {"outputs", outputs},       {"metrics", metrics}};
      if (s.cache_key) stage["cache_key"] = s.cache_key->hex();
      if (!s.error.empty()) stage["error"] = s.error;
      add_accounting(stage, s);
      stages.push_back(std::move(stage));
    }
    nlohmann::json out = summary_json(run->summary);
    out["stages"] = std::move(stages);
    out["manifest"] = nlohmann::json::parse(run->summary.info.manifest_json, nullptr, false);
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  const RunSummary& s = run->summary;
  std::cout << "run " << s.info.id << " of " << s.info.workflow << ": " << s.status << "\n"
            << "started " << utc(s.info.started_ms) << " UTC on " << s.info.host << ", seed "
            << s.info.seed << ", " << s.info.threads << " threads, trainflow "
            << s.info.trainflow_version << "\n";
  if (!s.error.empty()) std::cout << "error: " << s.error << "\n";
  if (s.cost) {
    std::cout << "cost " << *s.cost
              << " (the stages' wall hours x (threads x core-hour rate + gpus x GPU-hour rate))\n";
  }
  std::cout << std::left << std::setw(40) << "stage" << std::setw(11) << "status" << std::setw(14)
            << "cache" << std::right << std::setw(10) << "wall ms" << std::setw(9) << "wait ms"
            << std::setw(8) << "threads" << std::setw(10) << "cost"
            << "  metrics\n";
  const auto optional = [](const auto& v) {
    std::ostringstream out;
    out.precision(std::cout.precision());
    if (v) {
      out << *v;
    } else {
      out << "-";
    }
    return out.str();
  };
  for (const StoredStage& st : run->stages) {
    std::cout << std::left << std::setw(40) << st.name << std::setw(11) << st.status
              << std::setw(14) << st.cache_outcome << std::right << std::setw(10) << st.wall_ms
              << std::setw(9) << optional(st.queue_wait_ms) << std::setw(8) << optional(st.threads)
              << std::setw(10) << std::setprecision(3) << optional(st.cost) << std::setprecision(6)
              << "  ";
    for (const StageMetric& m : st.metrics) {
      if (!m.step) std::cout << m.name << "=" << m.value << " ";
    }
    std::cout << "\n";
  }
  // Live curves: per stage and metric, the number of steps and the first and last values.
  for (const StoredStage& st : run->stages) {
    std::map<std::string, std::vector<const StageMetric*>> series;
    for (const StageMetric& m : st.metrics) {
      if (m.step) series[m.name].push_back(&m);
    }
    for (const auto& [name, points] : series) {
      std::cout << st.name << " " << name << ": " << points.size() << " steps, "
                << points.front()->value << " at step " << *points.front()->step << " .. "
                << points.back()->value << " at step " << *points.back()->step << "\n";
    }
  }
  return kExitOk;
}

// A changed value as text: long ones (the manifest) are only said to differ (--json has them).
std::string shown(const std::optional<std::string>& v) {
  if (!v) return "(none)";
  return v->size() > 100 ? "(" + std::to_string(v->size()) + " characters)" : *v;
}

int diff(const CommonOptions& common, const std::string& a, const std::string& b) {
  std::optional<RunStore> store = open_store(common, true);
  if (!store) return kExitUsage;
  std::optional<std::string> id_a = resolve(*store, a);
  std::optional<std::string> id_b = resolve(*store, b);
  if (!id_a || !id_b) return kExitUsage;
  Result<RunDiff> d = store->diff(*id_a, *id_b);
  if (!d) {
    std::cerr << d.error().message() << "\n";
    return kExitUsage;
  }
  const auto changes_json = [](const std::vector<ValueChange>& changes) {
    nlohmann::json out = nlohmann::json::array();
    for (const ValueChange& c : changes) {
      out.push_back(nlohmann::json{{"name", c.name},
                                   {"a", c.a ? nlohmann::json(*c.a) : nlohmann::json(nullptr)},
                                   {"b", c.b ? nlohmann::json(*c.b) : nlohmann::json(nullptr)}});
    }
    return out;
  };
  if (common.json) {
    nlohmann::json stages = nlohmann::json::array();
    for (const StageDiff& s : d->stages) {
      nlohmann::json metrics = nlohmann::json::array();
      for (const MetricChange& m : s.metrics) {
        metrics.push_back(nlohmann::json{{"name", m.name},
                                         {"a", m.a ? value_json(*m.a) : nlohmann::json(nullptr)},
                                         {"b", m.b ? value_json(*m.b) : nlohmann::json(nullptr)}});
      }
      stages.push_back(nlohmann::json{{"stage", s.stage},
                                      {"in_a", s.in_a},
                                      {"in_b", s.in_b},
                                      {"fields", changes_json(s.fields)},
                                      {"params", changes_json(s.params)},
                                      {"outputs", changes_json(s.outputs)},
                                      {"metrics", std::move(metrics)}});
    }
    std::cout << nlohmann::json{{"a", d->run_a},
                                {"b", d->run_b},
                                {"fields", changes_json(d->fields)},
                                {"stages", std::move(stages)}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::cout << "a: " << d->run_a << "\nb: " << d->run_b << "\n";
  for (const ValueChange& c : d->fields) {
    std::cout << c.name << ": " << shown(c.a) << " -> " << shown(c.b) << "\n";
  }
  if (d->stages.empty()) std::cout << "no stage differs\n";
  for (const StageDiff& s : d->stages) {
    if (!s.in_a || !s.in_b) {
      std::cout << s.stage << ": only in " << (s.in_a ? "a" : "b") << "\n";
      continue;
    }
    std::cout << s.stage << ":\n";
    for (const ValueChange& c : s.params) {
      std::cout << "  param " << c.name << ": " << shown(c.a) << " -> " << shown(c.b) << "\n";
    }
    for (const ValueChange& c : s.fields) {
      std::cout << "  " << c.name << ": " << shown(c.a) << " -> " << shown(c.b) << "\n";
    }
    for (const ValueChange& c : s.outputs) {
      std::cout << "  output " << c.name << ": " << shown(c.a) << " -> " << shown(c.b) << "\n";
    }
    for (const MetricChange& m : s.metrics) {
      std::cout << "  " << m.name << ": " << (m.a ? std::to_string(*m.a) : "(none)") << " -> "
                << (m.b ? std::to_string(*m.b) : "(none)") << "\n";
    }
  }
  return kExitOk;
}

struct ResumeArgs {
  CommonOptions common;
  std::string run;
  RunSettings settings;
};

// Finishes a recorded run: the workflow from the manifest's copy of the file (not the file as it
// is now), the same overrides, seed and worker count; stored stages are not run again.
int resume(const ResumeArgs& args) {
  block_interrupt_signals();
  std::optional<RunStore> store = open_store(args.common, true);
  if (!store) return kExitUsage;
  std::optional<std::string> id = resolve(*store, args.run);
  if (!id) return kExitUsage;
  Result<RunDetails> run = store->run(*id);
  if (!run) {
    std::cerr << run.error().message() << "\n";
    return kExitUsage;
  }
  if (run->summary.status == "succeeded") {
    if (args.common.json) {
      std::cout
          << nlohmann::json{{"run_id", *id}, {"status", "succeeded"}, {"resumed", false}}.dump(2)
          << "\n";
    } else {
      std::cout << "run " << *id << " succeeded already; nothing to resume\n";
    }
    return kExitOk;
  }
  const nlohmann::json manifest =
      nlohmann::json::parse(run->summary.info.manifest_json, nullptr, false);
  if (manifest.is_discarded() || !manifest.contains("source") || !manifest["source"].is_object() ||
      !manifest["source"].contains("text")) {
    std::cerr << "run " << *id << " has no workflow source in its manifest; it cannot be resumed "
              << "(runs started from C++ record none)\n";
    return kExitUsage;
  }
  const nlohmann::json& source = manifest["source"];
  config::LoadOptions options;
  options.overrides = source.value("overrides", std::vector<std::string>{});
  Result<config::Workflow> wf = config::parse_workflow(
      source["text"].get<std::string>(), source.value("file", std::string("workflow")), options);
  if (!wf) {
    std::cerr << wf.error().message() << "\n";
    return kExitUsage;
  }
  store.reset();  // run_workflow opens its own connection
  RunSettings settings = args.settings;
  settings.workdir = args.common.workdir;
  settings.json = args.common.json;
  settings.run_id = *id;
  settings.resume = true;
  if (settings.threads == 0) settings.threads = manifest.value("threads", 0U);
  return run_loaded(std::move(*wf), settings);
}

}  // namespace

void add_store_commands(CLI::App& app, int& exit_code) {
  auto runs_args = std::make_shared<CommonOptions>();
  add_command(app, "runs", "List the runs recorded in the work directory, newest first", *runs_args,
              JsonOutput::kYes)
      ->callback([runs_args, &exit_code] { exit_code = runs(*runs_args); });

  auto show_args = std::make_shared<CommonOptions>();
  auto show_run = std::make_shared<std::string>();
  CLI::App* show_cmd =
      add_command(app, "show", "Show a recorded run: its stages, cache outcomes and metrics",
                  *show_args, JsonOutput::kYes);
  show_cmd->add_option("RUN", *show_run, "A run id, or a unique prefix of one")->required();
  show_cmd->callback(
      [show_args, show_run, &exit_code] { exit_code = show(*show_args, *show_run); });

  auto diff_args = std::make_shared<CommonOptions>();
  auto diff_runs = std::make_shared<std::vector<std::string>>();
  CLI::App* diff_cmd = add_command(
      app, "diff", "Compare two runs: parameters, metrics, and which stages differ and how",
      *diff_args, JsonOutput::kYes);
  diff_cmd->add_option("RUNS", *diff_runs, "Two run ids (or unique prefixes)")
      ->required()
      ->expected(2);
  diff_cmd->callback([diff_args, diff_runs, &exit_code] {
    exit_code = diff(*diff_args, (*diff_runs)[0], (*diff_runs)[1]);
  });

  auto resume_args = std::make_shared<ResumeArgs>();
  CLI::App* resume_cmd = add_command(
      app, "resume",
      "Finish an interrupted or failed run: the same workflow, overrides and seed; stored "
      "stages are not run again",
      resume_args->common, JsonOutput::kYes);
  resume_cmd->add_option("RUN", resume_args->run, "A run id, or a unique prefix of one")
      ->required();
  add_run_settings(resume_cmd, resume_args->settings);
  resume_cmd->callback([resume_args, &exit_code] { exit_code = resume(*resume_args); });
}

}  // namespace trainflow::cli
