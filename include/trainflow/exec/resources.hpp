// Resources: what a stage asks of the machine, and what an executor may hand out.
//
// A stage's demand is its StageSpec::threads (cores) plus a ResourceDemand (memory, GPUs, and
// how far its thread grant may grow). The executor admits a stage only when all of its demand
// fits in what is free, acquires it all at once, and gives it back when the stage ends:
//
//   trainflow::Executor ex{{.threads = 8, .capacity = {.memory_bytes = 16ull << 30}}};
//   p.add("train", train_fn, data, {.threads = 4, .resources = {.memory_bytes = 6ull << 30}});
//
// Cores are never oversubscribed: the cores held by running stages never exceed
// ResourceCapacity::cpus, and a stage's kernels use exactly its grant (StageContext::threads()).
// A run that declares nothing counts one core a stage when it starts beside a run that does; one
// already running when such a run starts is not counted (docs/resources.md, "Which runs").
#pragma once

#include <cstdint>
#include <vector>

namespace trainflow {

// What one stage needs besides its cores (StageSpec::threads, the cores it starts with).
struct ResourceDemand {
  // The grant may grow up to this many cores while the stage runs, as cores free up
  // (StageContext::threads() then returns more), and is asked back down to StageSpec::threads
  // while other stages wait for cores. 0 (the default): the grant stays fixed. Only for stages
  // whose results do not depend on their thread count.
  unsigned max_threads = 0;
  // Peak memory the stage expects to use, in bytes. 0: none counted.
  std::uint64_t memory_bytes = 0;
  // GPUs the stage needs, each with gpu_memory_bytes free. 0: none.
  unsigned gpus = 0;
  std::uint64_t gpu_memory_bytes = 0;

  friend bool operator==(const ResourceDemand&, const ResourceDemand&) = default;
};

// What an executor hands out. Zero fields take the defaults noted.
struct ResourceCapacity {
  // Cores for stages. Default: the executor's worker count.
  unsigned cpus = 0;
  // Memory for stages, in bytes. Default: the machine's physical memory.
  std::uint64_t memory_bytes = 0;
  // One entry per GPU: its memory in bytes. Default: none.
  std::vector<std::uint64_t> gpu_memory_bytes{};
};

}  // namespace trainflow
