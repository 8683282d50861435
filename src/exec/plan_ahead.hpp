// Plan-ahead: when every stage of a run has an expected duration, the order in which admission
// takes waiting stages comes from a whole schedule planned before the run starts, not from each
// stage's critical path alone (private to trainflow).
//
// The plan is the shortest of a number of schedules built by the serial scheme: an activity list
// (a precedence-feasible order of the stages) is taken in turn, each stage starting at the
// earliest time its predecessors have ended and its cores, memory and GPUs are free throughout
// its run. The first list is in critical-path order; the others perturb each stage's critical
// path by a seeded random factor in [1, 2). Each schedule is then improved by forward-backward
// passes (Valls, Ballestín and Quintanilla, 2005): the stages are scheduled as late as possible
// in order of their ends, then as early as possible in order of those late starts, while the
// makespan shrinks. A stage's priority is then the time from its planned start to the planned
// end of the run, which, like the critical path it replaces, estimates how long the run goes on
// once the stage starts.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace trainflow::detail {

struct Plan;

struct PlannedStage {
  double seconds = 0;
  unsigned cpus = 1;
  std::uint64_t memory = 0;
  unsigned gpus = 0;  // whole devices
};

struct PlanCapacity {
  unsigned cpus = 1;
  std::uint64_t memory = 0;
  unsigned gpus = 0;
};

// Stages beyond which no plan is made (the search costs about n^3 per schedule).
inline constexpr std::uint32_t kMaxPlannedStages = 256;
// Activity lists tried: as many as fit in about 1% of the run's expected length (its lower
// bound: the longer of the critical path and the work over the capacity), within these.
inline constexpr int kMinPlanSamples = 8;
inline constexpr int kMaxPlanSamples = 256;

// Each stage's start, in seconds from the run's start, in the shortest schedule found; empty
// when the plan has more than kMaxPlannedStages stages or a stage needs more than `capacity`.
// Deterministic: the same inputs give the same plan.
std::vector<double> plan_ahead(const Plan& plan, std::span<const PlannedStage> stages,
                               const PlanCapacity& capacity);

}  // namespace trainflow::detail
