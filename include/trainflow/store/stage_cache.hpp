// StageCache: lets a run skip every stage whose result is already stored in the work directory,
// and stores the results of the stages it runs.
//
// A stage is cacheable when it has a StageSpec::cache_identity (every registry stage has one; a
// typed C++ stage when StageOptions::version is set) and a codec (StageRegistry::add_codec) for
// each of its outputs. Its cache key is the XXH3-128 digest of: the key format, trainflow's
// version, the identity (type, version, canonical parameters), the stage's seed, its thread grant
// when its numerics depend on it, the device ("cpu") and precision, and the digests of its
// inputs' contents. A key maps to the digests of the outputs, which live in an ArtifactStore
// (`<workdir>/artifacts`); the entry itself is a small checksummed file under `<workdir>/cache`,
// written only after every output artifact is durable. Nothing but digests reaches a path.
//
// attach() plans the run before it starts: walking the graph in order, a stage whose inputs'
// digests are known and whose key has an entry is a hit. Hits whose outputs nobody that runs
// needs are not even loaded (a fully cached rerun reads only what the report keeps), but their
// artifacts must exist (a stat each); the others are read and verified now. A hit whose artifact
// is missing or corrupt becomes a stage that runs (so its own inputs become needed, and so on).
// attach() then replaces the bodies: hits restore (or skip), the rest run and store. At run time a
// stage that runs first checks the cache again with the actual digests of its inputs, so a stage
// downstream of a rerun stage that produced the same bytes is still a hit.
//
//   Result<std::shared_ptr<StageCache>> cache = StageCache::attach(graph, {.workdir = ".trainflow",
//                                                                        .run_seed = 42,
//                                                                        .workers = 4});
//   RunReport report = executor.run(graph, {.seed = 42});
//   for (const StageCacheRecord& r : (*cache)->records()) ...   // hit, stored, ...
//
// Limits: stages that complete asynchronously (StageCall::defer) run every time and their
// outputs get no digest (their dependants run too). gather stages (kind "gather") are never
// stored: their output's digest is derived from their inputs'.
//
// Thread safety: attach() must not run concurrently with a run of the graph; the graph then
// runs with the cache's bodies, once (attach again for another run). records() after the run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainflow/core/hash.hpp"
#include "trainflow/core/status.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/registry/registry.hpp"
#include "trainflow/store/file_system.hpp"

namespace trainflow {

struct CacheOptions {
  // Artifacts go to `<workdir>/artifacts`, entries to `<workdir>/cache`. Default ".trainflow".
  std::filesystem::path workdir = ".trainflow";
  // Default true. False: nothing is looked up and every stage runs; results are still stored,
  // so a later run can use them (`trainflow run --no-cache`).
  bool read = true;
  // Default true. False: nothing is stored (a stage marked `cache: false` is excluded by
  // leaving its name in `exclude` instead).
  bool write = true;
  // Graph stage names that run even when their key has an entry (`--force STAGE`); their
  // results replace the stored ones. Default none.
  std::vector<std::string> force{};
  // Default false. True: every cacheable stage runs even on a hit, and its outputs' digests are
  // compared with the stored ones (`trainflow run --verify`): a difference means the stage is
  // not deterministic (outcome kMismatch). The stored results are kept either way.
  bool verify = false;
  // Output types restored for every hit even when nothing needs them, so that a caller watching
  // outputs of these types (metrics, for a report) sees them on a cached rerun too. Keep it to
  // small values. Default none.
  std::vector<TypeId> always_load{};
  // Graph stage names never looked up or stored (`cache: false`). Default none.
  std::vector<std::string> exclude{};
  // The run seed (RunOptions::seed): stage seeds enter the keys.
  std::uint64_t run_seed = 0;
  // The executor's worker count: grants are capped at it. Default 0: hardware concurrency.
  unsigned workers = 0;
  // Where codecs come from. Default nullptr: default_registry().
  const StageRegistry* registry = nullptr;
  // Default nullptr: local_file_system(). REQUIRES: outlives the run.
  FileSystem* fs = nullptr;
};

// What became of one stage.
enum class CacheOutcome : std::uint8_t {
  kNotCacheable,  // no identity, an output without a codec, or excluded: ran, nothing stored
  kSkipped,       // a hit whose outputs nobody needed: not even loaded
  kRestored,      // a hit: outputs read from the store (verified) instead of running
  kStored,        // ran (a miss, forced, or reading disabled) and its outputs were stored
  kRan,           // ran and was not stored (writing disabled, an asynchronous stage, failed)
  kVerified,      // verify: ran, and its outputs equal the stored ones bit for bit
  kMismatch,      // verify: ran, and an output differs from the stored one (see note)
  kNotRun,        // never started (the run failed or was cancelled before it)
};

std::string_view to_string(CacheOutcome outcome) noexcept;

struct StageCacheRecord {
  StageId stage = 0;
  CacheOutcome outcome = CacheOutcome::kNotRun;
  // The stage's cache key, when its inputs' digests were known.
  std::optional<Digest> key{};
  // The digest of each output's content, where known.
  std::vector<std::optional<Digest>> outputs{};
  // Why a planned hit ran after all (a missing or corrupt artifact), or why storing failed.
  std::string note{};
};

class StageCache {
 public:
  // Plans `graph` against the work directory and wraps its stage bodies as described above.
  // Fails when the work directory cannot be created, or `force` / `exclude` name no stage
  // (kNotFound, naming it). Corrupt or missing cache data is never an error: those stages run.
  // REQUIRES: graph.validate() is ok; `graph` outlives the returned cache's run.
  static Result<std::shared_ptr<StageCache>> attach(Graph& graph, CacheOptions options);

  // One record per graph stage, by id. Call after the run ended.
  std::vector<StageCacheRecord> records() const;
  // Stage `id`'s record; complete once its body has returned, so a wrapper around the body may
  // read it right after (on the same thread), and anyone after the run ended.
  // REQUIRES: id < the graph's size.
  const StageCacheRecord& record(StageId id) const noexcept;

  // Stages whose plan said hit (restored or skipped), counted before the run.
  std::size_t planned_hits() const noexcept;

  class State;  // shared with the stage bodies

  explicit StageCache(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// The cache key of a stage from its parts (exposed for tests and `trainflow show`): equal parts
// give equal keys; any differing part gives a different key.
Digest cache_key(const StageSpec& spec, std::uint64_t stage_seed, unsigned grant,
                 const std::vector<Digest>& input_digests);

}  // namespace trainflow
