// Stage benchmarks: registers one stage — a built-in StageSpec or your own typed callable — run
// with given inputs on a real Executor as a Google Benchmark case, once per thread grant.
//
// Each iteration runs a graph of one source stage per input (each emits its stored Value: a
// handle copy, never a copy of the payload) feeding the stage under test, whose StageSpec::threads
// is the case's grant (what StageContext::threads() reports); the executor has at least that many
// workers. A run whose report is not ok ends the case with SkipWithError and the report's error.
// Cases are named "<name>/threads:<grant>/real_time", timed in wall-clock time, and report
// items_per_second and bytes_per_second when the options give items or bytes per run.
//
//   #include <trainflow/bench/stage_benchmark.hpp>
//
//   static const bool registered = [] {
//     std::vector<float> x(1 << 24, 1.0f);
//     trainflow::bench::register_stage(
//         "sum",
//         [](trainflow::StageContext& ctx, const std::vector<float>& v) {
//           return parallel_sum(v, ctx.threads());           // your kernel, on its grant
//         },
//         trainflow::bench::inputs(std::move(x)),           // stored once, shared by every run
//         {.threads = {1, 2}, .items_per_run = 1 << 24, .bytes_per_run = 4 << 24})
//         ->Unit(benchmark::kMillisecond);
//     return true;
//   }();
//   BENCHMARK_MAIN();    // prints sum/threads:1/real_time, sum/threads:2/real_time
//
// The run includes what Executor::run does around the stage (a few microseconds: setting the run
// up, running the source stages, the report, destroying the stage's outputs); it is meant for
// stages that take much longer. Take inputs by const reference: a parameter taken by value
// receives a copy of the stored input on every run (the stored input is never consumed).
//
// This header includes <benchmark/benchmark.h>: link the benchmark binary with
// benchmark::benchmark (the trainflow library itself does not). Registration is not thread-safe
// (Google Benchmark's registry is not); call it before benchmark::RunSpecifiedBenchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "trainflow/bench/stage_graph.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/graph/stage_body.hpp"
#include "trainflow/graph/value.hpp"

namespace trainflow::bench {

struct StageBenchmarkOptions {
  // The thread grants to measure, one case each (the benchmark argument "threads"). Default
  // empty: 1, 2, ..., std::thread::hardware_concurrency(). A grant of 0 counts as 1.
  std::vector<unsigned> threads{};
  // What one run of the stage processes, reported as items_per_second and bytes_per_second
  // (rows, samples, input bytes: whatever the reader should divide by). Default 0: not reported.
  std::int64_t items_per_run = 0;
  std::int64_t bytes_per_run = 0;
  // Executor workers: max(workers, grant). Default 0: exactly the grant, so that a stage granted
  // n threads finds n workers and no idle ones. More workers let the source stages run beside
  // the stage, which only matters for stages that are themselves a few microseconds long.
  unsigned workers = 0;
};

// Inputs for the typed register_stage: one stored Value per input, in parameter order.
// Build with trainflow::bench::inputs(a, b, ...). Copies share the stored values.
template <class... Ts>
class Inputs {
 public:
  explicit Inputs(std::array<Value, sizeof...(Ts)> values) : values_(std::move(values)) {}
  const std::array<Value, sizeof...(Ts)>& values() const noexcept { return values_; }

 private:
  std::array<Value, sizeof...(Ts)> values_;
};

// Stores each argument once (moved when passed an rvalue) as the input of a stage benchmark.
template <class... Ts>
Inputs<std::decay_t<Ts>...> inputs(Ts&&... values) {
  return Inputs<std::decay_t<Ts>...>{{Value::make(std::forward<Ts>(values))...}};
}

namespace detail {

struct StageBenchmarkSetup {
  StageSpec stage;
  std::vector<Value> inputs;
  StageBenchmarkOptions options;
};

// The graph of one case: "input<i>" sources feeding the stage, granted `grant` threads.
inline Graph make_stage_graph(const StageBenchmarkSetup& setup, unsigned grant) {
  return stage_graph(setup.stage, setup.inputs, grant);
}

inline void run_stage_benchmark(benchmark::State& state, const StageBenchmarkSetup& setup) {
  const auto grant = static_cast<unsigned>(state.range(0) < 1 ? 1 : state.range(0));
  const Graph graph = make_stage_graph(setup, grant);
  // Validates and flattens the graph now, so that the first timed run does not.
  if (auto plan = graph.plan(); !plan.has_value()) {
    state.SkipWithError(plan.error().message().c_str());
    return;
  }
  Executor executor{{.threads = setup.options.workers > grant ? setup.options.workers : grant}};
  for (auto _ : state) {
    RunReport report = executor.run(graph, {.timing = Timing::kNone});
    if (!report.ok()) {
      state.SkipWithError(report.error().message().c_str());
      break;
    }
  }
  if (setup.options.items_per_run > 0) {
    state.SetItemsProcessed(state.iterations() * setup.options.items_per_run);
  }
  if (setup.options.bytes_per_run > 0) {
    state.SetBytesProcessed(state.iterations() * setup.options.bytes_per_run);
  }
}

}  // namespace detail

// Registers `stage` (its name, ports, body and kind; an empty name becomes `name`, and `threads`
// is replaced by each grant) fed with `inputs` (input i feeds input port i; each Value is shared
// by every run, never copied) as the benchmark `name`, one case per grant in options.threads.
// Returns the Benchmark for further settings (Unit, MinTime, Repetitions...). A mismatch between
// the inputs and the stage's ports (count or type) is reported when the case runs, as its error,
// with the messages of Graph::validate. REQUIRES: stage.body != nullptr.
inline benchmark::internal::Benchmark* register_stage(const std::string& name, StageSpec stage,
                                                      std::vector<Value> inputs,
                                                      StageBenchmarkOptions options = {}) {
  if (stage.name.empty()) stage.name = name;
  std::vector<unsigned> grants = options.threads;
  if (grants.empty()) {
    const unsigned n =
        std::thread::hardware_concurrency() > 0 ? std::thread::hardware_concurrency() : 1;
    for (unsigned g = 1; g <= n; ++g) grants.push_back(g);
  }
  auto setup = std::make_shared<const detail::StageBenchmarkSetup>(
      detail::StageBenchmarkSetup{std::move(stage), std::move(inputs), std::move(options)});
  auto* bench = benchmark::RegisterBenchmark(name.c_str(), [setup](benchmark::State& state) {
    detail::run_stage_benchmark(state, *setup);
  });
  bench->ArgName("threads")->UseRealTime();
  for (unsigned g : grants) bench->Arg(g < 1 ? 1 : static_cast<std::int64_t>(g));
  return bench;
}

// Registers a typed stage: `fn` is any callable Pipeline::add accepts for inputs of types Ts...
// (`fn(const Ts&...)` or `fn(StageContext&, const Ts&...)`, returning a value, Result, Status,
// Outputs or void; the same compile-time checks apply). Otherwise as above.
template <class F, class... Ts>
benchmark::internal::Benchmark* register_stage(const std::string& name, F&& fn,
                                               const Inputs<Ts...>& inputs,
                                               StageBenchmarkOptions options = {}) {
  StageSpec spec = make_stage_spec<Ts...>(StageOptions{.name = name}, std::forward<F>(fn));
  return register_stage(name, std::move(spec),
                        std::vector<Value>(inputs.values().begin(), inputs.values().end()),
                        std::move(options));
}

}  // namespace trainflow::bench
