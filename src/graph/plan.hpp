// Plan: a validated Graph flattened into arrays for the executor (private to trainflow).
//
// Immutable once built and shared by every run of the graph. Successor lists are unique per
// stage pair, so a stage's join count is its number of distinct predecessors.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "trainflow/core/type_id.hpp"
#include "trainflow/exec/resources.hpp"
#include "trainflow/exec/retry.hpp"
#include "trainflow/graph/stage_body.hpp"

namespace trainflow::detail {

struct RunScratch;  // per-run memory of the executor (exec/run_state.hpp)
using PooledScratch = std::unique_ptr<RunScratch, void (*)(RunScratch*)>;

// What the executor reads of a stage on every dispatch, packed into one cache line (56 bytes).
struct StageInfo {
  StageBody* body = nullptr;         // owned by Plan::bodies
  StageBody::Entry entry = nullptr;  // body->entry(), called instead of body->invoke when set
  std::uint32_t succ_begin = 0, succ_end = 0;  // into Plan::succs
  std::uint32_t in_begin = 0, in_end = 0;      // into Plan::input_slots
  std::uint32_t out_begin = 0, out_end = 0;    // the stage's output slots
  std::int32_t num_preds = 0;
  std::uint32_t threads = 1;  // StageSpec::threads, at least 1
  // Index into Plan::controls for a stage with retries or a timeout; kNoControl for the others,
  // which the executor then runs without looking further.
  static constexpr std::uint32_t kNoControl = UINT32_MAX;
  std::uint32_t control = kNoControl;
};

// The retry policy and timeout of a stage that has either.
struct StageControl {
  std::uint32_t stage = 0;
  RetryPolicy retry;
  std::optional<std::chrono::milliseconds> timeout;
};

struct Plan {
  std::string graph_name;
  std::uint32_t num_stages = 0;
  std::vector<std::string> names;
  std::vector<std::shared_ptr<StageBody>> bodies;
  std::vector<std::uint64_t> name_hashes;  // hash64(name): folded with the run seed per stage

  // Successors in CSR form: succs[succ_offsets[i] .. succ_offsets[i+1]), each a stage id with
  // kSinglePredecessor set when that successor has no other predecessor (so the executor can
  // ready it without touching its join counter).
  static constexpr std::uint32_t kSinglePredecessor = 1u << 31;
  static constexpr std::uint32_t kStageMask = kSinglePredecessor - 1;
  std::vector<std::uint32_t> succ_offsets;
  std::vector<std::uint32_t> succs;
  std::vector<std::int32_t> num_preds;
  std::vector<std::uint32_t> sources;  // stages with no predecessor, in id order
  std::uint32_t num_sinks = 0;         // stages with no successor

  // Value slots: one per output port. Stage i's outputs are slots
  // [output_offsets[i], output_offsets[i+1]); its input k reads slot input_slots[input_offsets[i] +
  // k].
  std::vector<std::uint32_t> output_offsets;
  std::vector<std::uint32_t> input_offsets;
  std::vector<std::uint32_t> input_slots;
  std::vector<std::uint32_t> slot_consumers;  // how many input ports read each slot
  std::unique_ptr<bool[]> sole_consumer;      // slot_consumers == 1
  std::vector<TypeId> slot_types;
  std::uint32_t num_slots = 0;

  std::vector<StageInfo> info;         // per stage: the above, gathered for the hot path
  std::vector<StageControl> controls;  // stages with retries or a timeout, in stage order
  // StageSpec::resources per stage, when some stage declares any or more than one thread (the
  // run then goes through resource admission); empty otherwise.
  std::vector<ResourceDemand> demands;

  // Per-run memory given back by runs whose reports are gone, reused by the next runs so that
  // large graphs do not pay page faults on every run.
  mutable std::mutex scratch_mutex;
  mutable std::vector<PooledScratch> scratch_pool;

  // The last schedule plan_ahead() made for this graph and what it was made from (the stages'
  // durations and demands, the capacity), so that runs with the same inputs reuse it.
  mutable std::mutex schedule_mutex;
  mutable std::vector<double> schedule_inputs;
  mutable std::vector<double> schedule_starts;

  std::uint32_t num_outputs(std::uint32_t stage) const {
    return output_offsets[stage + 1] - output_offsets[stage];
  }
  std::uint32_t num_inputs(std::uint32_t stage) const {
    return input_offsets[stage + 1] - input_offsets[stage];
  }
};

}  // namespace trainflow::detail
