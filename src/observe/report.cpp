// html_report(): RunDetails -> one HTML page with inline CSS and SVG. docs/monitoring.md shows
// what each section means; the layout of the DAG is a longest-path layering with one barycentre
// pass to order each level.
#include "trainflow/observe/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "observe/log_time.hpp"
#include "trainflow/config/workflow.hpp"
#include "trainflow/version.hpp"

namespace trainflow::observe {
namespace {

// A class name from a status: lower-case letters and '_' only, so it is safe unescaped.
std::string status_class(std::string_view status) {
  std::string out;
  for (const char c : status) {
    if ((c >= 'a' && c <= 'z') || c == '_') out += c;
  }
  return out.empty() ? "unknown" : out;
}

// At most `max_chars` UTF-8 characters of `text` (never cutting one), with "…" when cut.
std::string shorten(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) return std::string(text.substr(0, i)) + "\u2026";
    ++chars;
  }
  return std::string(text);
}

std::string number(double v, const char* format = "%.6g") {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

// A coordinate: one decimal.
std::string coord(double v) {
  return number(v, "%.1f");
}

// "850 ms", "12.3 s", "4.2 min".
std::string duration_text(double ms) {
  if (ms < 1000) return number(ms, "%.0f") + " ms";
  if (ms < 120000) return number(ms / 1000, "%.3g") + " s";
  return number(ms / 60000, "%.3g") + " min";
}

bool ran(const StoredStage& s) {
  return s.attempts > 0 || s.status == "succeeded" || s.status == "failed";
}

const char* const kStyle = R"css(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}dl.summary dt{color:#57606a}dl.summary dd{margin:0}
pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:4px;margin:4px 0}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-weight:600}
.badge.status-succeeded{background:#c8e6c9;color:#1b5e20}.badge.status-failed{background:#ffcdd2;color:#b71c1c}
.badge.status-cancelled{background:#ffe0b2;color:#e65100}.badge.status-running{background:#bbdefb;color:#0d47a1}
.badge.status-skipped,.badge.status-pending,.badge.status-unknown{background:#eee;color:#424242}
svg{font-family:inherit;font-size:12px}.scroll{overflow-x:auto;max-width:100%}
svg .node rect,svg .bar,svg .swatch{stroke-width:1.5}
.status-succeeded rect,rect.status-succeeded{fill:#c8e6c9;stroke:#2e7d32}
.status-failed rect,rect.status-failed{fill:#ffcdd2;stroke:#c62828}
.status-skipped rect,rect.status-skipped{fill:#eeeeee;stroke:#9e9e9e}
.status-cancelled rect,rect.status-cancelled{fill:#ffe0b2;stroke:#ef6c00}
.status-running rect,rect.status-running{fill:#bbdefb;stroke:#1565c0}
.status-pending rect,rect.status-pending,.status-unknown rect,rect.status-unknown{fill:#fafafa;stroke:#9e9e9e;stroke-dasharray:4 3}
.node.cached rect{stroke-dasharray:6 3}
.edge{fill:none;stroke:#8c959f;stroke-width:1.2}
.axis line,.grid{stroke:#d0d7de}.axis text,.label{fill:#57606a}
.curve polyline{fill:none;stroke:#0969da;stroke-width:1.5}.curve circle{fill:#0969da}
.curves{display:flex;flex-wrap:wrap;gap:12px}
.legend{display:flex;gap:14px;margin:6px 0;font-size:12px}.legend span{display:inline-flex;align-items:center;gap:4px}
.note{color:#57606a}
)css";

// The DAG's nodes: the graph's stages in its order, then stages only the run has.
struct Dag {
  std::vector<std::string> names;
  std::vector<std::pair<std::size_t, std::size_t>> edges;  // node indices, from -> to
};

Dag dag_of(const StageGraph& graph, const RunDetails& run) {
  Dag dag;
  std::unordered_map<std::string, std::size_t> index;
  const auto add = [&](const std::string& name) {
    const auto [it, added] = index.try_emplace(name, dag.names.size());
    if (added) dag.names.push_back(name);
    return it->second;
  };
  for (const std::string& s : graph.stages) add(s);
  for (const StoredStage& s : run.stages) add(s.name);
  std::set<std::pair<std::size_t, std::size_t>> seen;
  for (const StageEdge& e : graph.edges) {
    const std::size_t from = add(e.from);
    const std::size_t to = add(e.to);
    if (from != to && seen.emplace(from, to).second) dag.edges.emplace_back(from, to);
  }
  return dag;
}

struct Placement {
  std::vector<std::size_t> level;
  std::vector<std::size_t> row;
  std::vector<std::size_t> rows_in_level;
};

// Longest-path levels (nodes on a cycle, which a valid graph has not, go last), then each level
// ordered by the mean row of its predecessors.
Placement place(const Dag& dag) {
  const std::size_t n = dag.names.size();
  std::vector<std::vector<std::size_t>> out(n);
  std::vector<std::vector<std::size_t>> in(n);
  std::vector<std::size_t> indegree(n, 0);
  for (const auto& [from, to] : dag.edges) {
    out[from].push_back(to);
    in[to].push_back(from);
    ++indegree[to];
  }
  Placement p;
  p.level.assign(n, 0);
  std::vector<bool> done(n, false);
  std::deque<std::size_t> ready;
  for (std::size_t v = 0; v < n; ++v) {
    if (indegree[v] == 0) ready.push_back(v);
  }
  std::size_t max_level = 0;
  while (!ready.empty()) {
    const std::size_t v = ready.front();
    ready.pop_front();
    done[v] = true;
    max_level = std::max(max_level, p.level[v]);
    for (const std::size_t w : out[v]) {
      p.level[w] = std::max(p.level[w], p.level[v] + 1);
      if (--indegree[w] == 0) ready.push_back(w);
    }
  }
  for (std::size_t v = 0; v < n; ++v) {
    if (!done[v]) p.level[v] = max_level + 1;
  }
  std::size_t levels = 0;
  for (std::size_t v = 0; v < n; ++v) levels = std::max(levels, p.level[v] + 1);
  std::vector<std::vector<std::size_t>> by_level(levels);
  for (std::size_t v = 0; v < n; ++v) by_level[p.level[v]].push_back(v);
  p.row.assign(n, 0);
  p.rows_in_level.assign(levels, 0);
  std::vector<bool> placed(n, false);
  for (std::size_t l = 0; l < levels; ++l) {
    std::vector<std::pair<double, std::size_t>> keyed;
    for (const std::size_t v : by_level[l]) {
      double sum = 0;
      std::size_t count = 0;
      for (const std::size_t u : in[v]) {
        if (placed[u]) {
          sum += static_cast<double>(p.row[u]);
          ++count;
        }
      }
      keyed.emplace_back(count ? sum / static_cast<double>(count) : static_cast<double>(v), v);
    }
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t r = 0; r < keyed.size(); ++r) {
      p.row[keyed[r].second] = r;
      placed[keyed[r].second] = true;
    }
    p.rows_in_level[l] = keyed.size();
  }
  return p;
}

class Page {
 public:
  Page(const RunDetails& run, const ReportOptions& options) : run_(run), options_(options) {
    for (const StoredStage& s : run_.stages) stages_.emplace(s.name, &s);
    for (const StoredStage& s : run_.stages) {
      if (ran(s)) span_ms_ = std::max(span_ms_, s.ended_ms);
    }
    if (run_.summary.ended_ms) {
      span_ms_ = std::max(span_ms_, *run_.summary.ended_ms - run_.summary.info.started_ms);
    }
  }

  std::string render() {
    const RunSummary& s = run_.summary;
    out_ += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out_ += "<meta name=\"generator\" content=\"trainflow " + html_escape(kVersion) + "\">\n";
    out_ += "<title>trainflow run " + html_escape(s.info.id) + "</title>\n<style>";
    out_ += kStyle;
    out_ += "</style>\n</head>\n<body>\n";
    out_ += "<h1>Run " + html_escape(s.info.id);
    if (!s.info.workflow.empty()) out_ += " of " + html_escape(s.info.workflow);
    out_ += " <span class=\"badge status-" + status_class(s.status) + "\">" +
            html_escape(s.status) + "</span></h1>\n";
    summary();
    graph();
    timeline();
    resources();
    metrics();
    curves();
    out_ += "</body>\n</html>\n";
    return std::move(out_);
  }

 private:
  void row(std::string_view name, const std::string& value_html) {
    out_ += "<dt>";
    out_ += name;
    out_ += "</dt><dd>" + value_html + "</dd>\n";
  }

  void summary() {
    const RunSummary& s = run_.summary;
    out_ += "<section id=\"summary\">\n<h2>Summary</h2>\n<dl class=\"summary\">\n";
    row("run", html_escape(s.info.id));
    row("workflow", html_escape(s.info.workflow));
    row("status", "<span class=\"badge status-" + status_class(s.status) + "\">" +
                      html_escape(s.status) + "</span>");
    row("started", html_escape(iso_utc_ms(s.info.started_ms)));
    if (s.ended_ms) {
      row("ended", html_escape(iso_utc_ms(*s.ended_ms)));
      row("duration", duration_text(static_cast<double>(*s.ended_ms - s.info.started_ms)));
    }
    if (!s.info.host.empty()) row("host", html_escape(s.info.host));
    if (s.info.threads > 0) row("workers", std::to_string(s.info.threads));
    row("seed", std::to_string(s.info.seed));
    if (!s.info.trainflow_version.empty()) {
      row("trainflow", html_escape(s.info.trainflow_version) +
                           (s.info.compiler.empty() ? "" : ", " + html_escape(s.info.compiler)));
    }
    std::map<std::string, std::size_t> counts;
    for (const StoredStage& st : run_.stages) ++counts[st.status];
    std::string stages = std::to_string(run_.stages.size()) + " recorded";
    for (const auto& [status, count] : counts) {
      stages += ", " + std::to_string(count) + " " + html_escape(status);
    }
    row("stages", stages);
    if (s.cost) row("cost", number(*s.cost, "%.4g"));
    if (!s.failed_stage.empty()) row("failed stage", html_escape(s.failed_stage));
    out_ += "</dl>\n";
    if (!s.error.empty()) out_ += "<pre class=\"error\">" + html_escape(s.error) + "</pre>\n";
    out_ += "</section>\n";
  }

  std::string stage_status(const std::string& name) const {
    const auto it = stages_.find(name);
    return it == stages_.end() ? std::string("pending") : it->second->status;
  }

  void legend() {
    out_ += "<div class=\"legend\">";
    for (const char* status : {"succeeded", "failed", "skipped", "cancelled", "pending"}) {
      out_ += "<span><svg width=\"14\" height=\"14\"><rect class=\"swatch status-";
      out_ += status;
      out_ += "\" x=\"1\" y=\"1\" width=\"12\" height=\"12\" rx=\"2\"/></svg>";
      out_ += status;
      out_ += "</span>";
    }
    out_ += "</div>\n";
  }

  void graph() {
    out_ += "<section id=\"graph\">\n<h2>Stage graph</h2>\n";
    StageGraph graph;
    if (options_.graph) {
      graph = *options_.graph;
    } else if (Result<StageGraph> rebuilt = workflow_graph(run_); rebuilt) {
      graph = std::move(*rebuilt);
    } else {
      out_ +=
          "<p class=\"note\">The edges are not shown: " + html_escape(rebuilt.error().message()) +
          "</p>\n";
    }
    const Dag dag = dag_of(graph, run_);
    if (dag.names.empty()) {
      out_ += "<p class=\"note\">No stages.</p>\n</section>\n";
      return;
    }
    legend();
    const Placement p = place(dag);
    constexpr double kWidth = 180, kHeight = 30, kColumn = 240, kRow = 44, kMargin = 12;
    std::size_t max_rows = 0;
    for (const std::size_t r : p.rows_in_level) max_rows = std::max(max_rows, r);
    const auto x_of = [&](std::size_t v) {
      return kMargin + static_cast<double>(p.level[v]) * kColumn;
    };
    const auto y_of = [&](std::size_t v) {
      const double offset = static_cast<double>(max_rows - p.rows_in_level[p.level[v]]) * kRow / 2;
      return kMargin + offset + static_cast<double>(p.row[v]) * kRow;
    };
    const double width =
        kMargin * 2 + static_cast<double>(p.rows_in_level.size() - 1) * kColumn + kWidth;
    const double height = kMargin * 2 + static_cast<double>(max_rows - 1) * kRow + kHeight;
    out_ += "<div class=\"scroll\"><svg id=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
            coord(width) + "\" height=\"" + coord(height) + "\" viewBox=\"0 0 " + coord(width) +
            " " + coord(height) + "\">\n";
    for (const auto& [from, to] : dag.edges) {
      const double x1 = x_of(from) + kWidth, y1 = y_of(from) + kHeight / 2;
      const double x2 = x_of(to), y2 = y_of(to) + kHeight / 2;
      const double bend = std::max(20.0, (x2 - x1) / 2);
      out_ += "<path class=\"edge\" data-from=\"" + html_escape(dag.names[from]) + "\" data-to=\"" +
              html_escape(dag.names[to]) + "\" d=\"M" + coord(x1) + " " + coord(y1) + " C" +
              coord(x1 + bend) + " " + coord(y1) + " " + coord(x2 - bend) + " " + coord(y2) + " " +
              coord(x2) + " " + coord(y2) + "\"/>\n";
    }
    for (std::size_t v = 0; v < dag.names.size(); ++v) {
      const std::string& name = dag.names[v];
      const std::string status = stage_status(name);
      const auto it = stages_.find(name);
      const bool cached = it != stages_.end() && (it->second->cache_outcome == "restored" ||
                                                  it->second->cache_outcome == "skipped");
      std::string tip = name + ": " + status;
      if (it != stages_.end()) {
        if (!it->second->type.empty()) tip += " (" + it->second->type + ")";
        if (ran(*it->second)) tip += ", " + std::to_string(it->second->wall_ms) + " ms";
        if (!it->second->cache_outcome.empty()) tip += ", cache " + it->second->cache_outcome;
      }
      out_ += "<g class=\"node status-" + status_class(status) + (cached ? " cached" : "") +
              "\" data-stage=\"" + html_escape(name) + "\"><title>" + html_escape(tip) +
              "</title><rect x=\"" + coord(x_of(v)) + "\" y=\"" + coord(y_of(v)) + "\" width=\"" +
              coord(kWidth) + "\" height=\"" + coord(kHeight) + "\" rx=\"5\"/><text x=\"" +
              coord(x_of(v) + 8) + "\" y=\"" + coord(y_of(v) + kHeight / 2 + 4) + "\">" +
              html_escape(shorten(name, 24)) + "</text></g>\n";
    }
    out_ += "</svg></div>\n</section>\n";
  }

  void timeline() {
    out_ += "<section id=\"timeline\">\n<h2>Timeline</h2>\n";
    std::vector<const StoredStage*> bars;
    std::set<unsigned> workers;
    for (const StoredStage& s : run_.stages) {
      if (!ran(s)) continue;
      bars.push_back(&s);
      workers.insert(s.worker);
    }
    if (bars.empty()) {
      out_ += "<p class=\"note\">No stage ran.</p>\n</section>\n";
      return;
    }
    constexpr double kLabel = 90, kPlot = 900, kRowHeight = 26, kTop = 8, kAxis = 24;
    const double span = static_cast<double>(std::max<std::int64_t>(span_ms_, 1));
    std::map<unsigned, std::size_t> row_of;
    for (const unsigned w : workers) row_of.emplace(w, row_of.size());
    const double height = kTop + static_cast<double>(workers.size()) * kRowHeight + kAxis;
    const double width = kLabel + kPlot + 20;
    const auto x_of = [&](double ms) { return kLabel + std::clamp(ms / span, 0.0, 1.0) * kPlot; };
    out_ +=
        "<div class=\"scroll\"><svg id=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
        coord(width) + "\" height=\"" + coord(height) + "\" viewBox=\"0 0 " + coord(width) + " " +
        coord(height) + "\">\n";
    // Ticks at 1, 2 or 5 times a power of ten, about eight of them.
    const double raw = span / 8;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    double step = power;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
      if (m * power >= raw) {
        step = m * power;
        break;
      }
    }
    const double axis_y = kTop + static_cast<double>(workers.size()) * kRowHeight;
    out_ += "<g class=\"axis\">";
    for (double t = 0; t <= span + step / 2; t += step) {
      const double x = x_of(t);
      out_ += "<line class=\"grid\" x1=\"" + coord(x) + "\" y1=\"" + coord(kTop) + "\" x2=\"" +
              coord(x) + "\" y2=\"" + coord(axis_y) + "\"/><text x=\"" + coord(x) + "\" y=\"" +
              coord(axis_y + 16) + "\" text-anchor=\"middle\">" +
              (step >= 1000 ? number(t / 1000, "%g") + " s" : number(t, "%g") + " ms") + "</text>";
    }
    out_ += "</g>\n";
    for (const auto& [worker, r] : row_of) {
      out_ += "<text class=\"label\" x=\"4\" y=\"" +
              coord(kTop + static_cast<double>(r) * kRowHeight + kRowHeight / 2 + 4) +
              "\">worker " + std::to_string(worker) + "</text>\n";
    }
    for (const StoredStage* s : bars) {
      const double x1 = x_of(static_cast<double>(s->started_ms));
      const double x2 = x_of(static_cast<double>(std::max(s->ended_ms, s->started_ms)));
      const double w = std::max(1.0, x2 - x1);
      const double y = kTop + static_cast<double>(row_of[s->worker]) * kRowHeight + 3;
      std::string tip = s->name + ": " + s->status + ", " + std::to_string(s->started_ms) + " to " +
                        std::to_string(s->ended_ms) + " ms";
      if (s->attempts > 1) tip += ", " + std::to_string(s->attempts) + " attempts";
      if (!s->cache_outcome.empty()) tip += ", cache " + s->cache_outcome;
      out_ += "<g><title>" + html_escape(tip) + "</title><rect class=\"bar status-" +
              status_class(s->status) + "\" data-stage=\"" + html_escape(s->name) + "\" x=\"" +
              coord(x1) + "\" y=\"" + coord(y) + "\" width=\"" + coord(w) + "\" height=\"" +
              coord(kRowHeight - 6) + "\" rx=\"2\"/>";
      const auto chars = static_cast<std::size_t>(w / 7);
      if (chars >= 4) {
        out_ += "<text x=\"" + coord(x1 + 3) + "\" y=\"" + coord(y + kRowHeight / 2 + 1) + "\">" +
                html_escape(shorten(s->name, chars - 1)) + "</text>";
      }
      out_ += "</g>\n";
    }
    out_ += "</svg></div>\n</section>\n";
  }

  void resources() {
    out_ += "<section id=\"resources\">\n<h2>Resources per stage</h2>\n";
    // Optional columns: shown when some stage has the value.
    struct Column {
      const char* title;
      std::function<std::optional<std::string>(const StoredStage&)> cell;
    };
    const auto integer = [](std::optional<std::int64_t> v) -> std::optional<std::string> {
      if (!v) return std::nullopt;
      return std::to_string(*v);
    };
    const auto mib = [](std::optional<std::int64_t> v) -> std::optional<std::string> {
      if (!v) return std::nullopt;
      return number(static_cast<double>(*v) / (1024.0 * 1024.0), "%.1f");
    };
    const std::vector<Column> all = {
        {"threads",
         [](const StoredStage& s) -> std::optional<std::string> {
           if (!s.threads) return std::nullopt;
           return std::to_string(*s.threads);
         }},
        {"queue wait ms", [&](const StoredStage& s) { return integer(s.queue_wait_ms); }},
        {"peak RSS growth MiB", [&](const StoredStage& s) { return mib(s.peak_rss_growth_bytes); }},
        {"read MiB", [&](const StoredStage& s) { return mib(s.bytes_read); }},
        {"written MiB", [&](const StoredStage& s) { return mib(s.bytes_written); }},
        {"GPUs",
         [](const StoredStage& s) -> std::optional<std::string> {
           if (s.gpus == 0) return std::nullopt;
           return std::to_string(s.gpus);
         }},
        {"GPU ms", [&](const StoredStage& s) { return integer(s.gpu_ms); }},
        {"GPU memory MiB", [&](const StoredStage& s) { return mib(s.gpu_memory_bytes); }},
        {"cost",
         [](const StoredStage& s) -> std::optional<std::string> {
           if (!s.cost) return std::nullopt;
           return number(*s.cost, "%.4g");
         }},
    };
    std::vector<const Column*> columns;
    for (const Column& c : all) {
      for (const StoredStage& s : run_.stages) {
        if (c.cell(s)) {
          columns.push_back(&c);
          break;
        }
      }
    }
    out_ +=
        "<table>\n<tr><th>stage</th><th>type</th><th>status</th><th>cache</th><th>attempts</th>"
        "<th>worker</th><th>wall ms</th><th>cpu ms</th><th>cpu/wall</th>";
    for (const Column* c : columns) out_ += std::string("<th>") + c->title + "</th>";
    out_ += "</tr>\n";
    for (const StoredStage& s : run_.stages) {
      out_ += "<tr data-stage=\"" + html_escape(s.name) + "\"><td>" + html_escape(s.name) +
              "</td><td>" + html_escape(s.type) + "</td><td><span class=\"badge status-" +
              status_class(s.status) + "\">" + html_escape(s.status) + "</span></td><td>" +
              html_escape(s.cache_outcome) + "</td><td class=\"num\">" +
              std::to_string(s.attempts) + "</td><td class=\"num\">" +
              (ran(s) ? std::to_string(s.worker) : std::string()) + "</td><td class=\"num\">" +
              std::to_string(s.wall_ms) + "</td><td class=\"num\">" + std::to_string(s.cpu_ms) +
              "</td><td class=\"num\">" +
              (s.wall_ms > 0
                   ? number(static_cast<double>(s.cpu_ms) / static_cast<double>(s.wall_ms), "%.2f")
                   : std::string()) +
              "</td>";
      for (const Column* c : columns) {
        out_ += "<td class=\"num\">" + c->cell(s).value_or(std::string()) + "</td>";
      }
      out_ += "</tr>\n";
    }
    out_ += "</table>\n";
    for (const StoredStage& s : run_.stages) {
      if (s.error.empty()) continue;
      out_ += "<p>Error of <b>" + html_escape(s.name) + "</b>:</p><pre class=\"error\">" +
              html_escape(s.error) + "</pre>\n";
    }
    out_ += "</section>\n";
  }

  void metrics() {
    out_ += "<section id=\"metrics\">\n<h2>Metrics</h2>\n";
    std::string rows;
    for (const StoredStage& s : run_.stages) {
      for (const StageMetric& m : s.metrics) {
        if (m.step) continue;
        rows += "<tr><td>" + html_escape(s.name) + "</td><td>" + html_escape(m.name) +
                "</td><td class=\"num\">" + number(m.value) + "</td></tr>\n";
      }
    }
    if (rows.empty()) {
      out_ += "<p class=\"note\">No stage recorded final metrics.</p>\n";
    } else {
      out_ +=
          "<table>\n<tr><th>stage</th><th>metric</th><th>value</th></tr>\n" + rows + "</table>\n";
    }
    out_ += "</section>\n";
  }

  void curves() {
    out_ += "<section id=\"curves\">\n<h2>Training curves</h2>\n";
    bool any = false;
    for (const StoredStage& s : run_.stages) {
      // Per metric, its (step, value) points in the order reported, then sorted by step.
      std::map<std::string, std::vector<std::pair<double, double>>> series;
      std::vector<std::string> order;
      for (const StageMetric& m : s.metrics) {
        if (!m.step || *m.step < 0 || !std::isfinite(m.value)) continue;
        auto [it, added] = series.try_emplace(m.name);
        if (added) order.push_back(m.name);
        it->second.emplace_back(static_cast<double>(*m.step), m.value);
      }
      for (const std::string& name : order) {
        if (!any) out_ += "<div class=\"curves\">\n";
        any = true;
        curve(s.name, name, series[name]);
      }
    }
    if (any) {
      out_ += "</div>\n";
    } else {
      out_ += "<p class=\"note\">No stage reported metrics per step.</p>\n";
    }
    out_ += "</section>\n";
  }

  void curve(const std::string& stage, const std::string& metric,
             std::vector<std::pair<double, double>> points) {
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const std::size_t limit = std::max<std::size_t>(options_.max_curve_points, 2);
    if (points.size() > limit) {
      std::vector<std::pair<double, double>> thinned;
      thinned.reserve(limit);
      for (std::size_t i = 0; i < limit; ++i)
        thinned.push_back(points[i * (points.size() - 1) / (limit - 1)]);
      points = std::move(thinned);
    }
    constexpr double kWidth = 360, kHeight = 200, kLeft = 60, kRight = 14, kTop = 26, kBottom = 30;
    double x_min = points.front().first, x_max = points.back().first;
    double y_min = points.front().second, y_max = y_min;
    for (const auto& pt : points) {
      y_min = std::min(y_min, pt.second);
      y_max = std::max(y_max, pt.second);
    }
    if (x_max <= x_min) x_max = x_min + 1;
    if (y_max <= y_min) {
      const double pad = y_min == 0 ? 1 : std::abs(y_min) * 0.05;
      y_min -= pad;
      y_max += pad;
    }
    const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
    const auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * plot_w; };
    const auto py = [&](double y) { return kTop + (y_max - y) / (y_max - y_min) * plot_h; };
    out_ += "<svg class=\"curve\" data-stage=\"" + html_escape(stage) + "\" data-metric=\"" +
            html_escape(metric) + "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
            coord(kWidth) + "\" height=\"" + coord(kHeight) + "\" viewBox=\"0 0 " + coord(kWidth) +
            " " + coord(kHeight) + "\"><title>" + html_escape(stage + ": " + metric) +
            "</title>\n<text x=\"" + coord(kLeft) + "\" y=\"16\" font-weight=\"600\">" +
            html_escape(shorten(stage + " \u00b7 " + metric, 44)) + "</text>\n";
    out_ += "<g class=\"axis\"><line x1=\"" + coord(kLeft) + "\" y1=\"" + coord(kTop) + "\" x2=\"" +
            coord(kLeft) + "\" y2=\"" + coord(kTop + plot_h) + "\"/><line x1=\"" + coord(kLeft) +
            "\" y1=\"" + coord(kTop + plot_h) + "\" x2=\"" + coord(kLeft + plot_w) + "\" y2=\"" +
            coord(kTop + plot_h) + "\"/><text x=\"" + coord(kLeft - 4) + "\" y=\"" +
            coord(kTop + 4) + "\" text-anchor=\"end\">" + number(y_max, "%.4g") +
            "</text><text x=\"" + coord(kLeft - 4) + "\" y=\"" + coord(kTop + plot_h) +
            "\" text-anchor=\"end\">" + number(y_min, "%.4g") + "</text><text x=\"" + coord(kLeft) +
            "\" y=\"" + coord(kHeight - 10) + "\">step " + number(x_min, "%.0f") +
            "</text><text x=\"" + coord(kLeft + plot_w) + "\" y=\"" + coord(kHeight - 10) +
            "\" text-anchor=\"end\">" + number(x_max, "%.0f") + "</text></g>\n";
    std::string coords;
    for (const auto& [x, y] : points) {
      if (!coords.empty()) coords += ' ';
      coords += coord(px(x)) + "," + coord(py(y));
    }
    out_ += "<polyline points=\"" + coords + "\"/>\n";
    if (points.size() == 1) {
      out_ += "<circle cx=\"" + coord(px(points[0].first)) + "\" cy=\"" +
              coord(py(points[0].second)) + "\" r=\"3\"/>\n";
    }
    out_ += "</svg>\n";
  }

  const RunDetails& run_;
  const ReportOptions& options_;
  std::unordered_map<std::string, const StoredStage*> stages_;
  std::int64_t span_ms_ = 0;  // the run's length: its end, or its last stage's end
  std::string out_;
};

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Result<StageGraph> workflow_graph(const RunDetails& run) {
  const std::string& id = run.summary.info.id;
  const nlohmann::json manifest =
      nlohmann::json::parse(run.summary.info.manifest_json, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return Status(StatusCode::kInvalidArgument,
                  "run " + id +
                      ": its manifest is not a JSON object, so its stage graph cannot "
                      "be rebuilt");
  }
  const auto source = manifest.find("source");
  if (source == manifest.end() || !source->is_object() || !source->contains("text") ||
      !(*source)["text"].is_string()) {
    return Status(StatusCode::kNotFound,
                  "run " + id +
                      " records no workflow source in its manifest (runs started from "
                      "C++ record none), so its stage graph cannot be rebuilt");
  }
  config::LoadOptions options;
  if (const auto o = source->find("overrides"); o != source->end() && o->is_array()) {
    for (const auto& item : *o) {
      if (item.is_string()) options.overrides.push_back(item.get<std::string>());
    }
  }
  std::string file = "workflow";
  if (const auto f = source->find("file"); f != source->end() && f->is_string()) {
    file = f->get<std::string>();
  }
  Result<config::Workflow> wf =
      config::parse_workflow((*source)["text"].get<std::string>(), file, options);
  if (!wf) {
    return Status(StatusCode::kInvalidArgument, "the workflow source recorded by run " + id +
                                                    " no longer loads: " + wf.error().message());
  }
  StageGraph graph;
  const Graph& g = wf->graph;
  for (StageId s = 0; s < g.size(); ++s) graph.stages.push_back(g.stage(s).name);
  for (StageId s = 0; s < g.size(); ++s) {
    std::set<StageId> from;
    for (const std::optional<PortRef>& ref : g.sources(s)) {
      if (ref && ref->stage < g.size()) from.insert(ref->stage);
    }
    for (const StageId d : g.order_dependencies(s)) {
      if (d < g.size()) from.insert(d);
    }
    for (const StageId f : from) graph.edges.push_back({graph.stages[f], graph.stages[s]});
  }
  return graph;
}

std::string html_report(const RunDetails& run, const ReportOptions& options) {
  return Page(run, options).render();
}

}  // namespace trainflow::observe
