// Store benchmarks: what the stage cache costs, and what it saves.
//
// Names (parsed by scripts/bench; keep them stable):
//   flagship/cold        examples/pipelines/churn.yaml with a cache attached to an empty work
//                        directory: every stage runs and stores its outputs (fsync'd)
//   flagship/cached      the same pipeline again with everything stored: the whole rerun
//                        (loading the workflow, planning against the store, the run)
//   flagship/no_cache    the same pipeline with no cache at all: the compute alone
//   chain/<mode>/stages:N  N trivial versioned stages in a chain, each passing an int64 on:
//                        mode no_cache (the executor alone), store (cold: every stage stored),
//                        cached (every stage a hit); the difference per stage is the store's
//                        and the cache's cost per stage
// Items processed are stages; the work directory is a fresh temporary directory per benchmark.
//
// TRAINFLOW_BENCH_SMOKE=1 shrinks the flagship (2,000 rows) and the chains.
#include <utility>  // before Boost.Asio's awaitable.hpp

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <trainflow/config/workflow.hpp>
#include <trainflow/ml.hpp>
#include <trainflow/store/stage_cache.hpp>
#include <trainflow/trainflow.hpp>

namespace tf = trainflow;

namespace {

bool smoke_mode() {
  const char* v = std::getenv("TRAINFLOW_BENCH_SMOKE");
  return v != nullptr && *v != '\0' && std::string_view{v} != "0";
}

constexpr unsigned kWorkers = 2;

// A work directory removed at exit.
class WorkDir {
 public:
  explicit WorkDir(const std::string& label) {
    path_ = std::filesystem::temp_directory_path() /
            ("trainflow_store_bench." + label + "." + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
  }
  ~WorkDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  void clear() const { std::filesystem::remove_all(path_); }

 private:
  std::filesystem::path path_;
};

tf::Executor& executor() {
  static tf::Executor e{{.threads = kWorkers}};
  return e;
}

tf::Result<tf::config::Workflow> flagship() {
  tf::config::LoadOptions options;
  if (smoke_mode()) options.overrides = {"customers.rows=2000"};
  return tf::config::load_workflow(TRAINFLOW_SOURCE_DIR "/examples/pipelines/churn.yaml", options);
}

// One run of the flagship, with a cache on `workdir` unless it is empty; false on failure.
bool run_flagship(benchmark::State& state, const std::filesystem::path& workdir) {
  tf::Result<tf::config::Workflow> wf = flagship();
  if (!wf) {
    state.SkipWithError(wf.error().message().c_str());
    return false;
  }
  if (!workdir.empty()) {
    auto cache = tf::StageCache::attach(
        wf->graph, {.workdir = workdir, .run_seed = wf->seed, .workers = kWorkers});
    if (!cache) {
      state.SkipWithError(cache.error().message().c_str());
      return false;
    }
  }
  const tf::RunReport report = executor().run(wf->graph, {.seed = wf->seed});
  if (!report.ok()) {
    state.SkipWithError(report.error().message().c_str());
    return false;
  }
  state.SetItemsProcessed(state.items_processed() + static_cast<std::int64_t>(wf->graph.size()));
  return true;
}

void BM_FlagshipCold(benchmark::State& state) {
  WorkDir dir("cold");
  for (auto _ : state) {
    state.PauseTiming();
    dir.clear();
    state.ResumeTiming();
    if (!run_flagship(state, dir.path())) return;
  }
}

void BM_FlagshipCached(benchmark::State& state) {
  WorkDir dir("cached");
  if (!run_flagship(state, dir.path())) return;  // fills the store
  state.SetItemsProcessed(0);
  for (auto _ : state) {
    if (!run_flagship(state, dir.path())) return;
  }
}

void BM_FlagshipNoCache(benchmark::State& state) {
  for (auto _ : state) {
    if (!run_flagship(state, {})) return;
  }
}

// N versioned stages in a chain: stage i adds i to its input.
tf::Pipeline chain(std::int64_t n) {
  tf::Pipeline p{"chain"};
  auto h = p.add(tf::StageOptions{.name = "s0", .version = "1"}, [] { return std::int64_t{0}; });
  for (std::int64_t i = 1; i < n; ++i) {
    h = p.add(
        tf::StageOptions{.name = "s" + std::to_string(i), .version = "1"},
        [i](std::int64_t v) { return v + i; }, h);
  }
  return p;
}

enum class ChainMode { kNoCache, kStore, kCached };

void BM_Chain(benchmark::State& state, ChainMode mode) {
  const std::int64_t n = state.range(0);
  WorkDir dir("chain");
  if (mode == ChainMode::kCached) {
    tf::Pipeline p = chain(n);
    auto cache = tf::StageCache::attach(p.graph(), {.workdir = dir.path(), .workers = kWorkers});
    if (!cache || !executor().run(p).ok()) {
      state.SkipWithError("could not fill the store");
      return;
    }
  }
  for (auto _ : state) {
    state.PauseTiming();
    if (mode == ChainMode::kStore) dir.clear();
    tf::Pipeline p = chain(n);
    state.ResumeTiming();
    if (mode != ChainMode::kNoCache) {
      auto cache = tf::StageCache::attach(p.graph(), {.workdir = dir.path(), .workers = kWorkers});
      if (!cache) {
        state.SkipWithError(cache.error().message().c_str());
        return;
      }
    }
    const tf::RunReport report = executor().run(p);
    if (!report.ok()) {
      state.SkipWithError(report.error().message().c_str());
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void register_all() {
  const int reps = smoke_mode() ? 1 : 3;
  benchmark::RegisterBenchmark("flagship/cold", BM_FlagshipCold)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(reps);
  benchmark::RegisterBenchmark("flagship/cached", BM_FlagshipCached)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("flagship/no_cache", BM_FlagshipNoCache)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(reps);
  const std::int64_t n = smoke_mode() ? 16 : 256;
  for (const auto& [name, mode] : {std::pair{"chain/no_cache", ChainMode::kNoCache},
                                   std::pair{"chain/store", ChainMode::kStore},
                                   std::pair{"chain/cached", ChainMode::kCached}}) {
    benchmark::RegisterBenchmark(name, BM_Chain, mode)
        ->ArgName("stages")
        ->Arg(n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
