// html_report(): a recorded run as one self-contained HTML page — what `trainflow report` writes.
//
// The page needs no network and no JavaScript: inline CSS and inline SVG only. It shows
//   - the run's summary: id, workflow, status, start and end (UTC), duration, host, workers,
//     seed, trainflow version, error, stage counts by status;
//   - the stage graph (DAG) laid out left to right by topological level, each stage a box
//     coloured by its status, edges as SVG paths;
//   - a Gantt chart: one row per worker, a bar per stage that ran, over the run's time;
//   - resource use per stage: status, cache outcome, attempts, worker, wall and CPU time, CPU/wall,
//     and, as columns shown only when some stage has the value, threads, queue wait, peak RSS
//     growth, bytes read and written, GPUs, GPU time and memory, and cost (the run's in the
//     summary);
//   - the final metrics of each stage as a table, and every metric reported with a step (per
//     epoch, say) as a training curve (an SVG polyline per stage and metric).
// Every string from the run (names, errors, parameters, the host) is HTML-escaped.
//
// Elements tests and scripts may rely on: the DAG is `<svg id="dag">`, a stage in it a
// `<g class="node status-<status>" data-stage="<name>">`; the Gantt chart is `<svg id="gantt">`,
// a bar in it a `<rect class="bar status-<status>" data-stage="<name>">`; a curve is an
// `<svg class="curve" data-stage="<name>" data-metric="<metric>">` holding one `<polyline>`;
// sections have the ids "summary", "graph", "timeline", "resources", "metrics", "curves".
//
//   Result<RunDetails> run = store.run(id);
//   std::ofstream("report.html") << observe::html_report(*run);
//
// Thread safety: reentrant.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/store/run_store.hpp"

namespace trainflow::observe {

// An edge of a run's stage graph: stage `to` takes an input from (or waits for) stage `from`.
struct StageEdge {
  std::string from;
  std::string to;
  friend bool operator==(const StageEdge&, const StageEdge&) = default;
};

// A run's stage graph: its stages in graph order and its edges (one per connected pair).
struct StageGraph {
  std::vector<std::string> stages{};
  std::vector<StageEdge> edges{};
};

// The stage graph of `run`, rebuilt from the workflow source its manifest records (the file's text
// and the --set overrides, as `trainflow resume` uses them) with config::parse_workflow and the
// default stage registry. kNotFound when the manifest records no source (runs started from C++);
// kInvalidArgument when the manifest is not JSON or the source no longer loads (e.g. a stage type
// this trainflow does not have), with the loader's message.
Result<StageGraph> workflow_graph(const RunDetails& run);

struct ReportOptions {
  // The stage graph to draw. Default std::nullopt: workflow_graph(run); when that fails the page
  // says why in place of the DAG. Stages of the run missing from the graph are added without
  // edges; stages of the graph missing from the run are drawn as "pending".
  std::optional<StageGraph> graph{};
  // Points of one training curve; a longer series is thinned to this many, evenly by index,
  // keeping its first and last point. Default 1000; at least 2.
  std::size_t max_curve_points = 1000;
};

// The page (see above). Never fails: a run with no stages, times out of order or values that are
// NaN still give a page (such points are left out of curves).
std::string html_report(const RunDetails& run, const ReportOptions& options = {});

// `text` with &, <, >, " and ' replaced by entities: safe in HTML text and in quoted attributes.
std::string html_escape(std::string_view text);

}  // namespace trainflow::observe
