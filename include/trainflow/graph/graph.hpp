// Graph: the type-erased stage graph that every run executes.
//
// A Graph holds stages (a name, typed input and output ports, a StageBody) and edges (an output
// port feeding an input port, or a plain ordering dependency). Pipeline builds one from typed C++
// callables; the workflow-file loader builds one from YAML. Edges may be added in any order and
// may be wrong: validate() reports every problem at once — duplicate names, unbound or doubly
// bound inputs, port type mismatches, bad port indices and cycles (naming the stages on the
// cycle) — before anything runs.
//
//   trainflow::Graph g{"example"};
//   auto a = g.add_stage({.name = "a", .outputs = {{"out", trainflow::type_id<int>()}}, .body =
//   ...}); auto b = g.add_stage({.name = "b", .inputs = {{"x", trainflow::type_id<int>()}}, .body =
//   ...}); g.connect({a, 0}, {b, 0}); if (auto s = g.validate(); !s.ok()) std::cerr << s.message();
//
// Thread safety: const members may be called concurrently; a Graph must not change while it is
// being validated, exported or run.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/exec/resources.hpp"
#include "trainflow/exec/retry.hpp"
#include "trainflow/graph/stage_body.hpp"

namespace trainflow {

// A stage's position in its graph: 0, 1, 2, ... in the order stages were added.
using StageId = std::uint32_t;

// One port of one stage.
struct PortRef {
  StageId stage = 0;
  std::uint32_t port = 0;
};

struct PortSpec {
  std::string name{};
  TypeId type{};  // the C++ type of the values on this port
};

struct StageSpec {
  std::string name{};               // unique in the graph; used in reports, logs and seeds
  std::vector<PortSpec> inputs{};   // each must be bound to exactly one upstream output
  std::vector<PortSpec> outputs{};  // may feed any number of inputs, or none (kept for the report)
  std::shared_ptr<StageBody> body{};  // REQUIRES: not null
  std::string kind{};                 // what the stage is, for DOT and listings ("read_csv")
  // Threads the stage's own kernels may use (its grant, StageContext::threads()): this many,
  // capped at the executor's worker count; 0 counts as 1. Default 1.
  unsigned threads = 1;
  // Memory, GPUs and a growing grant (exec/resources.hpp). Default: none of them.
  ResourceDemand resources{};
  // What the stage computes, for cache keys (see store/stage_cache.hpp): two stages with equal
  // identities, seeds and input contents must produce equal outputs. Empty (the default): the
  // stage is never served from the cache. Registry stages get "<type>@<version>(<canonical
  // parameters>)"; typed C++ stages get one from StageOptions::version.
  std::string cache_identity{};
  // True when the stage's results may differ with its thread grant (e.g. parallel floating-point
  // reductions in a different order); the grant then enters its cache key. Default false.
  bool numerics_depend_on_threads = false;
  // When and how often a failed attempt runs again (exec/retry.hpp). Default: never.
  RetryPolicy retry{};
  // How long one attempt may run. When it passes, the stage's stop token is signalled and the
  // attempt fails with kDeadlineExceeded ("stage 'x' timed out after 200 ms"), which the retry
  // policy may retry. A synchronous body cannot be interrupted: it fails when it returns, so a
  // long body should poll StageContext::stop_requested(). An asynchronous stage fails at the
  // deadline and a later completion is ignored; after the last attempt its inputs are released,
  // so the body must not read them once its stop token was signalled. Default none: no limit.
  // REQUIRES (validate): positive.
  std::optional<std::chrono::milliseconds> timeout{};
};

namespace detail {
struct Plan;
}

class Graph {
 public:
  explicit Graph(std::string name = "pipeline");
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  ~Graph();

  const std::string& name() const noexcept;

  // Adds a stage and returns its id. Names are checked by validate(), not here.
  // REQUIRES: spec.body != nullptr.
  StageId add_stage(StageSpec spec);

  // Feeds output port `from` into input port `to`. Port indices and types are checked by
  // validate(). REQUIRES: both stage ids were returned by add_stage.
  void connect(PortRef from, PortRef to);

  // Makes `after` wait for `before` without passing a value.
  // REQUIRES: both stage ids were returned by add_stage.
  void add_dependency(StageId before, StageId after);

  std::size_t size() const noexcept;
  std::size_t num_edges() const noexcept;
  // REQUIRES: id < size().
  const StageSpec& stage(StageId id) const noexcept;
  // The stage called `name`, if any (the first one, if names are duplicated).
  std::optional<StageId> find(std::string_view name) const;

  // The output bound to each input port of stage `id`, by port index; std::nullopt for an unbound
  // port (the first binding where a port is bound twice, which validate() reports). Order-only
  // dependencies are not listed. REQUIRES: id < size().
  std::vector<std::optional<PortRef>> sources(StageId id) const;
  // The stages that `id` waits for through order-only dependencies (add_dependency).
  std::vector<StageId> order_dependencies(StageId id) const;

  // Replaces the body of stage `id` (e.g. to wrap it, as the stage cache does); everything else
  // about the stage stays. REQUIRES: id < size(); body != nullptr; no run of the graph is in
  // progress.
  void set_body(StageId id, std::shared_ptr<StageBody> body);

  // Ok, or kFailedPrecondition with one line per problem found.
  Status validate() const;

  // The graph in Graphviz DOT: one node per stage (name and kind), one edge per binding, labelled
  // with the ports and the type. Works on invalid graphs too.
  std::string to_dot() const;

  // For trainflow's executor: the validated, flattened form of this graph, built once and shared
  // by every run until the graph changes; the validation error otherwise.
  Result<std::shared_ptr<const detail::Plan>> plan() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainflow
