// The graph that runs one stage on given inputs with a given thread grant: what stage
// benchmarks execute (the Google Benchmark helper in stage_benchmark.hpp, `trainflow bench`).
//
// Input i comes from a source stage "input<i>" that emits its stored Value (a handle copy, never
// a copy of the payload), so the graph can run any number of times on the same inputs:
//
//   Graph g = trainflow::bench::stage_graph(spec, {Value::make(train)}, 4);
//   Executor ex{{.threads = 4}};
//   RunReport r = ex.run(g, {.seed = 42});          // the stage's outputs: r.output({1, 0})
//
// The stage under test is the last one, id inputs.size(); its outputs feed nothing, so a run's
// report keeps them. Needs no Google Benchmark.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "trainflow/graph/graph.hpp"
#include "trainflow/graph/stage_body.hpp"
#include "trainflow/graph/value.hpp"

namespace trainflow::bench {

// A source stage body: emits one stored Value.
class EmitValue final : public StageBody {
 public:
  explicit EmitValue(Value value) : value_(std::move(value)) {}
  void invoke(StageCall& call) override { call.set_output(0, value_); }

 private:
  Value value_;
};

// The graph named after `stage`: "input<i>" sources (kind "bench_input") feeding input port i of
// `stage`, whose StageSpec::threads becomes `grant` (0 counts as 1 when it runs). A mismatch
// between the inputs and the stage's ports (count or type) is left to Graph::validate() and the
// executor, which report it naming the ports. REQUIRES: stage.body != nullptr.
inline Graph stage_graph(StageSpec stage, const std::vector<Value>& inputs, unsigned grant) {
  Graph graph{stage.name};
  const auto n = static_cast<std::uint32_t>(inputs.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    StageSpec source;
    source.name = "input" + std::to_string(i);
    source.kind = "bench_input";
    source.outputs = {{"out", inputs[i].type()}};
    source.body = std::make_shared<EmitValue>(inputs[i]);
    graph.add_stage(std::move(source));
  }
  stage.threads = grant;
  const StageId id = graph.add_stage(std::move(stage));
  for (std::uint32_t i = 0; i < n; ++i) graph.connect({i, 0}, {id, i});
  return graph;
}

}  // namespace trainflow::bench
