#include "trainflow/observe/report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "observe/report_sample.hpp"

namespace trainflow::observe {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The text between the first occurrence of `begin` and the next `end` after it.
std::string between(const std::string& text, const std::string& begin, const std::string& end) {
  const std::size_t a = text.find(begin);
  if (a == std::string::npos) return {};
  const std::size_t b = text.find(end, a + begin.size());
  return text.substr(a + begin.size(),
                     b == std::string::npos ? std::string::npos : b - a - begin.size());
}

TEST(HtmlEscapeTest, ReplacesEveryMarkupCharacter) {
  EXPECT_EQ(html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain \xC3\xA9"), "plain \xC3\xA9");
  EXPECT_EQ(html_escape(""), "");
}

TEST(HtmlReportTest, IsSelfContained) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  // The only URL is SVG's namespace name, which is never fetched.
  std::string rest = html;
  for (std::size_t at; (at = rest.find("http")) != std::string::npos; rest = rest.substr(at + 4)) {
    EXPECT_EQ(rest.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << rest.substr(at, 60);
  }
  for (const char* id : {"summary", "graph", "timeline", "resources", "metrics", "curves"}) {
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
  }
}

TEST(HtmlReportTest, EscapesEveryStringFromTheRun) {
  RunDetails run = test::sample_report_run();
  run.summary.info.host = "<b>host</b>";
  run.summary.error = "x < y & \"z\"";
  run.stages[1].name = "<script>alert(1)</script>";
  run.stages[1].error = "<img src=x onerror=alert(2)>";
  run.stages[1].metrics.push_back({"<i>m</i>", 1.0, std::nullopt});
  run.stages[1].metrics.push_back({"'q'", 1.0, 1});
  const std::string html = html_report(run, {});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>host"), std::string::npos);
  EXPECT_EQ(html.find("<i>m"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;host&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("x &lt; y &amp; &quot;z&quot;"), std::string::npos);
  EXPECT_NE(html.find("data-metric=\"&#39;q&#39;\""), std::string::npos);
}

TEST(HtmlReportTest, SummaryShowsTheRun) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  const std::string summary = between(html, "<section id=\"summary\">", "</section>");
  EXPECT_NE(summary.find("<dt>run</dt><dd>20261124T073000Z-3fa2c1</dd>"), std::string::npos);
  EXPECT_NE(summary.find("<dt>started</dt><dd>2026-11-24T07:30:01.000Z</dd>"), std::string::npos);
  EXPECT_NE(summary.find("<dt>duration</dt><dd>1 s</dd>"), std::string::npos);
  EXPECT_NE(summary.find("<dt>host</dt><dd>box</dd>"), std::string::npos);
  EXPECT_NE(summary.find("<dt>stages</dt><dd>4 recorded, 1 failed, 3 succeeded</dd>"),
            std::string::npos);
  EXPECT_NE(summary.find("badge status-failed"), std::string::npos);
  EXPECT_NE(summary.find("<dt>cost</dt><dd>0.0125</dd>"), std::string::npos);
  EXPECT_NE(summary.find("<pre class=\"error\">stage &#39;eval&#39; failed: boom</pre>"),
            std::string::npos);
}

TEST(HtmlReportTest, DagLaysStagesOutByLevelAndColoursThemByStatus) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  const std::string dag = between(html, "<svg id=\"dag\"", "</svg>");
  // load -> prep -> train -> eval, and load -> eval: levels 0, 1, 2, 3, so x is 12 + 240 *
  // level. "pending" (in the graph, not in the run) has no edges: level 0, below load. Level 0
  // has two rows (y 12 and 56); the others one, centred: y 12 + 44 / 2.
  EXPECT_NE(
      dag.find("<g class=\"node status-succeeded\" data-stage=\"load\"><title>load: succeeded "
               "(synthetic), 100 ms, cache stored</title><rect x=\"12.0\" y=\"12.0\""),
      std::string::npos)
      << dag;
  EXPECT_NE(dag.find("data-stage=\"prep\"><title>prep: succeeded (split), 200 ms, cache restored"
                     "</title><rect x=\"252.0\" y=\"34.0\""),
            std::string::npos);
  EXPECT_NE(dag.find("class=\"node status-succeeded cached\" data-stage=\"prep\""),
            std::string::npos);
  EXPECT_NE(dag.find("class=\"node status-failed\" data-stage=\"eval\"><title>eval: failed "
                     "(evaluate), 200 ms, cache ran</title><rect x=\"732.0\" y=\"34.0\""),
            std::string::npos);
  EXPECT_NE(dag.find("class=\"node status-pending\" data-stage=\"pending\"><title>pending: "
                     "pending</title><rect x=\"12.0\" y=\"56.0\""),
            std::string::npos);
  EXPECT_EQ(count(dag, "<g class=\"node "), 5U);
  EXPECT_EQ(count(dag, "<path class=\"edge\""), 4U);
  // An edge from load's right side (12 + 180, 12 + 15) to eval's left side (732, 34 + 15),
  // bending half-way.
  EXPECT_NE(dag.find("data-from=\"load\" data-to=\"eval\" d=\"M192.0 27.0 C462.0 27.0 462.0 49.0 "
                     "732.0 49.0\""),
            std::string::npos);
}

TEST(HtmlReportTest, DagRowsFollowTheirPredecessors) {
  // a -> c, b -> d, with c and d on level 1; a and b on level 0. Rows: a 0, b 1, c 0, d 1.
  RunDetails run;
  for (const char* name : {"a", "b", "d", "c"}) {
    StoredStage s;
    s.name = name;
    s.status = "succeeded";
    run.stages.push_back(s);
  }
  ReportOptions options;
  options.graph = StageGraph{{"a", "b", "d", "c"}, {{"a", "c"}, {"b", "d"}}};
  const std::string html = html_report(run, options);
  const std::regex node(
      "data-stage=\"([a-d])\"><title>[^<]*</title><rect x=\"([0-9.]+)\" y=\"([0-9.]+)\"");
  std::map<std::string, std::pair<std::string, std::string>> at;
  for (std::sregex_iterator it(html.begin(), html.end(), node), end; it != end; ++it) {
    at[(*it)[1]] = {(*it)[2], (*it)[3]};
  }
  ASSERT_EQ(at.size(), 4U);
  EXPECT_EQ(at["a"], std::make_pair(std::string("12.0"), std::string("12.0")));
  EXPECT_EQ(at["b"], std::make_pair(std::string("12.0"), std::string("56.0")));
  EXPECT_EQ(at["c"], std::make_pair(std::string("252.0"), std::string("12.0")));
  EXPECT_EQ(at["d"], std::make_pair(std::string("252.0"), std::string("56.0")));
}

TEST(HtmlReportTest, AGraphThatCannotBeRebuiltIsExplained) {
  RunDetails run = test::sample_report_run();
  run.summary.info.manifest_json = "{\"format\": 1, \"source\": null}";
  const std::string html = html_report(run, {});
  EXPECT_NE(html.find("The edges are not shown: run 20261124T073000Z-3fa2c1 records no workflow "
                      "source in its manifest"),
            std::string::npos);
  // Its stages are still drawn.
  EXPECT_EQ(count(between(html, "<svg id=\"dag\"", "</svg>"), "<g class=\"node "), 4U);
}

TEST(HtmlReportTest, GanttBarsArePlacedByWorkerAndTime) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  const std::string gantt = between(html, "<svg id=\"gantt\"", "</svg>");
  // The run lasts 1000 ms over 900 px after a 90 px label column; rows are 26 px from y = 8.
  // prep: worker 1 (row 1), [100, 300] ms -> x 180, width 180, y 8 + 26 + 3.
  EXPECT_NE(gantt.find("<rect class=\"bar status-succeeded\" data-stage=\"prep\" x=\"180.0\" "
                       "y=\"37.0\" width=\"180.0\" height=\"20.0\""),
            std::string::npos)
      << gantt;
  EXPECT_NE(gantt.find("<rect class=\"bar status-failed\" data-stage=\"eval\" x=\"720.0\" "
                       "y=\"11.0\" width=\"180.0\""),
            std::string::npos);
  EXPECT_EQ(count(gantt, "<rect class=\"bar "), 4U);
  EXPECT_NE(gantt.find(">worker 0</text>"), std::string::npos);
  EXPECT_NE(gantt.find(">worker 1</text>"), std::string::npos);
  // Ticks every 200 ms (about eight over the run: 1, 2 or 5 times a power of ten).
  EXPECT_NE(gantt.find(">200 ms</text>"), std::string::npos);
  EXPECT_NE(gantt.find(">1000 ms</text>"), std::string::npos);
  EXPECT_EQ(gantt.find(">1200 ms</text>"), std::string::npos);
}

TEST(HtmlReportTest, ResourceTableHasEveryStage) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  const std::string table = between(html, "<section id=\"resources\">", "</section>");
  // Optional columns only where some stage has a value: threads, queue wait, peak RSS growth
  // and cost; no I/O or GPU columns.
  EXPECT_NE(table.find("<th>cpu/wall</th><th>threads</th><th>queue wait ms</th><th>peak RSS "
                       "growth MiB</th><th>cost</th></tr>"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("GPU"), std::string::npos);
  EXPECT_EQ(table.find("read MiB"), std::string::npos);
  // train: 400 ms wall, 1600 ms cpu: 4.00 cores on average; 3 attempts; waited 20 ms.
  EXPECT_NE(
      table.find("<tr data-stage=\"train\"><td>train</td><td>mlp_classifier</td><td><span "
                 "class=\"badge status-succeeded\">succeeded</span></td><td>stored</td><td "
                 "class=\"num\">3</td><td class=\"num\">0</td><td class=\"num\">400</td><td "
                 "class=\"num\">1600</td><td class=\"num\">4.00</td><td class=\"num\">4</td><td "
                 "class=\"num\">20</td><td class=\"num\">3.0</td><td "
                 "class=\"num\">0.0125</td></tr>"),
      std::string::npos)
      << table;
  EXPECT_NE(table.find("Error of <b>eval</b>"), std::string::npos);
}

TEST(HtmlReportTest, FinalMetricsAreTabledAndStepsDrawnAsCurves) {
  const std::string html = html_report(test::sample_report_run(), test::sample_report_options());
  const std::string metrics = between(html, "<section id=\"metrics\">", "</section>");
  EXPECT_NE(metrics.find("<tr><td>train</td><td>accuracy</td><td class=\"num\">0.875</td></tr>"),
            std::string::npos);
  EXPECT_EQ(metrics.find(">loss<"), std::string::npos) << "per-step metrics are curves only";
  const std::string curves = between(html, "<section id=\"curves\">", "</section>");
  EXPECT_EQ(count(curves, "<svg class=\"curve\""), 2U);
  // loss at steps 0, 1, 2 = 1, 0.5, 0.25 (reported out of order; NaN at step 3 left out): the
  // plot spans x 60..346 and y 26..170, so the points are (60, 26), (203, 122), (346, 170).
  const std::string loss = between(curves, "data-stage=\"train\" data-metric=\"loss\"", "</svg>");
  EXPECT_NE(loss.find("<polyline points=\"60.0,26.0 203.0,122.0 346.0,170.0\"/>"),
            std::string::npos)
      << loss;
  EXPECT_NE(loss.find(">1</text>"), std::string::npos) << "the y axis' maximum";
  EXPECT_NE(loss.find(">0.25</text>"), std::string::npos) << "the y axis' minimum";
}

TEST(HtmlReportTest, LongCurvesAreThinned) {
  RunDetails run;
  StoredStage s;
  s.name = "fit";
  s.status = "succeeded";
  for (int i = 0; i < 10; ++i) s.metrics.push_back({"loss", 10.0 - i, i});
  run.stages.push_back(s);
  ReportOptions options;
  options.max_curve_points = 4;  // steps 0, 3, 6, 9
  const std::string html = html_report(run, options);
  const std::string points = between(html, "<polyline points=\"", "\"");
  // x: 60 + step / 9 * 286; y: 26 + (10 - value) / 9 * 144.
  EXPECT_EQ(points, "60.0,26.0 155.3,74.0 250.7,122.0 346.0,170.0");
}

TEST(HtmlReportTest, EmptyRunStillGivesAPage) {
  const std::string html = html_report(RunDetails{}, {});
  EXPECT_NE(html.find("No stages."), std::string::npos);
  EXPECT_NE(html.find("No stage ran."), std::string::npos);
  EXPECT_NE(html.find("No stage reported metrics per step."), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(WorkflowGraphTest, RebuildsTheGraphFromTheManifest) {
  RunDetails run;
  run.summary.info.id = "r1";
  run.summary.info.manifest_json = nlohmann::json{
      {"format", 1},
      {"source",
       {{"file", "/tmp/tiny.yaml"},
        {"text", test::kTinyWorkflow},
        {"overrides",
         {"data.rows=500"}}}}}.dump();
  Result<StageGraph> graph = workflow_graph(run);
  ASSERT_TRUE(graph) << graph.error().message();
  EXPECT_EQ(graph->stages, (std::vector<std::string>{"data", "split", "features"}));
  // features takes two outputs of split: one edge.
  EXPECT_EQ(graph->edges, (std::vector<StageEdge>{{"data", "split"}, {"split", "features"}}));
}

TEST(WorkflowGraphTest, SaysWhyItCannotRebuild) {
  RunDetails run;
  run.summary.info.id = "r1";
  run.summary.info.manifest_json = "not json";
  EXPECT_EQ(workflow_graph(run).error().code(), StatusCode::kInvalidArgument);
  run.summary.info.manifest_json = "{\"source\": null}";
  EXPECT_EQ(workflow_graph(run).error().code(), StatusCode::kNotFound);
  run.summary.info.manifest_json =
      nlohmann::json{
          {"source", {{"file", "w.yaml"}, {"text", "stages:\n  a:\n    uses: nosuch\n"}}}}
          .dump();
  const Result<StageGraph> bad = workflow_graph(run);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("no longer loads: w.yaml:3:"), std::string::npos)
      << bad.error().message();
}

}  // namespace
}  // namespace trainflow::observe
