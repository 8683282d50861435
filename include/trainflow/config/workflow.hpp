// Workflow files: a YAML description of a training pipeline, loaded into a validated Graph.
//
// A workflow file names its stages, each of a registered stage type (`uses`), with checked
// parameters (`with`), its inputs (`needs`), an optional parameter sweep (`foreach`) and settings
// for later scheduling (`retry`, `timeout`, `resources`, `cache`). docs/config.md is the complete
// reference. load_workflow() checks everything before anything runs and reports every problem at
// once, one `file:line:col: message` per line:
//
//   Result<config::Workflow> wf = config::load_workflow("churn.yaml", {.overrides =
//   {"train.l2=0.5"}}); if (!wf) { std::cerr << wf.error().message() << "\n"; return 1; }
//   trainflow::Executor executor{{.threads = 4}};
//   RunReport report = executor.run(wf->graph, {.seed = wf->seed});
//
// Hostile files cost little: the size, the nesting depth, the number of YAML nodes (aliases
// included, however often they are expanded) and the number of stages are capped (LoadOptions),
// and the file is scanned for binary data, several documents and deep nesting before the YAML
// parser sees it.
//
// Thread safety: the functions are reentrant; a Workflow is a value (its Graph follows Graph's
// rules).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/graph/value.hpp"
#include "trainflow/registry/params.hpp"
#include "trainflow/registry/registry.hpp"

namespace trainflow::config {

// What a stage asks of the machine (`resources:`). `threads` becomes the stage's
// StageSpec::threads, the rest its StageSpec::resources (ResourceDemand, in bytes), which the
// executor admits stages by.
struct Resources {
  unsigned threads = 1;  // threads for the stage's kernels (its initial grant), 1..1024
  // The grant may grow up to this many threads as cores free up; 0: fixed at `threads`.
  // Otherwise threads..1024. Refused for stage types whose results depend on their thread count
  // (StageType::numerics_depend_on_threads); a workflow-wide default skips those stages.
  unsigned max_threads = 0;
  std::uint64_t memory_mb = 0;      // expected peak memory in MiB; 0: unknown
  unsigned gpus = 0;                // GPUs the stage needs, 0..64
  std::uint64_t gpu_memory_mb = 0;  // free memory needed on each of its GPUs, in MiB; 0: any
};

// Prices for the run store's cost estimate (the top-level `cost:`): a stage costs
// wall hours x (threads x core_hour + gpus x gpu_hour). Finite and >= 0; the currency is the
// user's.
struct CostRates {
  double core_hour = 0;  // per core (granted thread) and hour
  double gpu_hour = 0;   // per GPU and hour
  friend bool operator==(const CostRates&, const CostRates&) = default;
};

// Per-stage run settings: parsed and validated now, stored for the executor features that act on
// them (retries, deadlines, resource admission, the artifact cache).
struct StageSettings {
  unsigned retry = 0;                                  // extra attempts after a failure, 0..100
  std::optional<std::chrono::milliseconds> timeout{};  // none: no deadline
  Resources resources{};  // the workflow's `resources`, then the stage's
  bool cache = true;      // may the result be cached and reused
};

// One stage of the loaded graph.
struct WorkflowStage {
  // The graph stage's name: the file's name for the stage, or for a sweep's trial that name with
  // the trial's label, e.g. "train[l2=0.1,max_iter=100]" or "train[3]".
  std::string name{};
  // The name in the file ("train"); equal to `name` for stages outside sweeps.
  std::string group{};
  // The registered type ("logistic_regression"); "gather" for the stages the loader adds to hand
  // a sweep's trials to a stage that takes them as a list.
  std::string type{};
  StageId id = 0;
  // The checked parameters (every declared one, defaults filled in); empty for gather stages.
  Params params{};
  // For trials: its index in the sweep (the file's order); std::nullopt otherwise.
  std::optional<std::size_t> trial{};
  StageSettings settings{};
  // Where the stage is declared (1-based); 0 for gather stages.
  int line = 0;
  int column = 0;
};

struct Workflow {
  std::string name{};               // `name`, or the file's stem
  std::uint64_t seed = 0;           // `seed`, default 0: pass it as RunOptions::seed
  Resources resources{};            // the workflow's default `resources`
  std::optional<CostRates> cost{};  // `cost`; none: runs are not priced
  Graph graph{};                    // validated; stage i is stages[i]
  std::vector<WorkflowStage> stages{};
  // Graph stage name -> id, for every stage (trials and gather stages included).
  std::map<std::string, StageId, std::less<>> ids{};
  // The file's stage name -> its graph stages: one, or one per trial in sweep order.
  std::map<std::string, std::vector<StageId>, std::less<>> groups{};

  // The stage called `name` (a graph stage name), or nullptr.
  const WorkflowStage* find(std::string_view name) const;
};

// How a stage receives a sweep's trials: an input port of type `list` (std::vector<T>) bound to
// a stage whose output is `element` (T) gets every trial's value, in sweep order, through a
// gather stage. The loader knows dataset, model and metrics lists; add others with list_type<T>().
struct ListType {
  TypeId element{};
  TypeId list{};
  // Builds the std::vector<T> from values of type T. REQUIRES: every value holds a T.
  std::function<Value(std::span<const Value>)> gather{};
};

template <class T>
ListType list_type() {
  return {type_id<T>(), type_id<std::vector<T>>(), [](std::span<const Value> values) {
            std::vector<T> out;
            out.reserve(values.size());
            for (const Value& v : values) out.push_back(v.get<T>());
            return Value::make(std::move(out));
          }};
}

struct LoadOptions {
  // The stage types the file may use. Default nullptr: default_registry(). REQUIRES: outlives
  // the call (the loaded stages do not refer to it).
  const StageRegistry* registry = nullptr;
  // Command-line parameter overrides, "stage.param=value" (the `--set` syntax), each value
  // parsed with parse_param() by the parameter's type. An override applies to every trial of a
  // sweep and wins over `with` and `foreach`. Default none.
  std::vector<std::string> overrides{};
  // List types besides the built-in dataset, model and metrics lists. Default none.
  std::vector<ListType> list_types{};
  // Larger files are refused before parsing. Default 1 MiB; a workflow file is a few KiB.
  std::size_t max_file_bytes = std::size_t{1} << 20;
  // Deeper nesting (block indentation levels, `- ` and flow brackets together) is refused before
  // parsing, since the YAML parser recurses. Default 64; a workflow needs about 8.
  std::size_t max_depth = 64;
  // YAML nodes visited, each alias counted again each time it is used, and a pre-parse estimate
  // of the nodes in the file: more is refused (alias bombs, huge flow lists). Default 100000.
  std::size_t max_nodes = 100000;
  // Graph stages after sweeps are expanded. Default 10000.
  std::size_t max_stages = 10000;
  // At most this many problems are listed; the rest are counted. Default 50.
  std::size_t max_errors = 50;
};

// Reads and loads the workflow file at `path`. Fails with kNotFound when the file cannot be read,
// otherwise as parse_workflow(), with the path as the file name in messages.
Result<Workflow> load_workflow(const std::filesystem::path& path, const LoadOptions& options = {});

// Loads a workflow from `text`; `file_name` prefixes every message and gives the default name.
// Fails with kInvalidArgument listing every problem found, sorted by position, one per line as
// `file_name:line:col: message` (overrides as `--set 'stage.param=value': message`): YAML
// syntax, binary data, several documents, tags, limits, unknown keys, stage types, parameters,
// ports or stages (each with a did-you-mean where one is near), missing required parameters or
// inputs, wrong types, ranges or choices, duplicate names, cycles (printed), port type
// mismatches (by the registry's short type names).
Result<Workflow> parse_workflow(std::string_view text, std::string_view file_name,
                                const LoadOptions& options = {});

}  // namespace trainflow::config
