// chrome_trace(): a recorded run as a Chrome trace (the JSON "Trace Event Format" that Perfetto,
// ui.perfetto.dev and chrome://tracing open), for seeing where a run's time went.
//
// The trace has two processes:
//   - "run <id> (<workflow>)", with a track "run" holding one slice for the whole run, and one
//     track per worker ("worker 0", "worker 1", ...), sorted by worker, holding a slice per
//     stage that ran (or was served by the cache) on that worker;
//   - "queue", with tracks "queue 1", "queue 2", ... holding, per stage with a measured queue wait,
//     a slice "<stage> (queued)" from the moment it was ready to the moment it started. A stage
//     goes on the first queue track free at its ready time, so slices on a track never overlap.
// Times are microseconds from the run's start (`ts` 0). A stage slice's name is the stage's name,
// with " (N attempts)" appended when it was retried; its category is "stage" ("stage,retried" when
// retried, "stage,cache" when served by the cache, "stage,failed" when it failed), and its args
// hold type, status, attempts, worker, wall_ms, cpu_ms, and where recorded cache, queue_wait_ms,
// threads, gpus, peak_rss_growth_bytes, bytes_read, bytes_written, gpu_ms, gpu_memory_bytes, cost
// and error. The run store records how many GPUs a stage held but not which, so GPU stages stay
// on their worker's track (with `gpus` in their args) rather than on a track per device. Stages
// that never started (attempts 0 and status other than succeeded or failed) have no slice. Metadata
// events ("M") name the processes and tracks; the top-level "otherData" holds the run id, workflow,
// status, host and start time.
//
//   Result<RunDetails> run = store.run(id);
//   std::ofstream("trace.json") << observe::chrome_trace(*run);
//
// Thread safety: reentrant.
#pragma once

#include <string>

#include "trainflow/store/run_store.hpp"

namespace trainflow::observe {

// The trace of `run` as a JSON document (see above). Never fails: text that is not valid UTF-8
// is replaced (U+FFFD), a stage whose end precedes its start gets a zero-length slice.
std::string chrome_trace(const RunDetails& run);

}  // namespace trainflow::observe
