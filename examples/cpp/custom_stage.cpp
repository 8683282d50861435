// A stage type of your own, registered in C++ and used by name from a workflow file.
//
// `clip` limits numeric feature columns to [lower, upper] (winsorising standardised features at
// ±3 is its common use). It declares its parameters — type, default, range, doc — and its typed
// ports, so the workflow loader checks a file that uses it exactly as it checks the built-in
// stages, and `trainflow stages` would list it. The program loads examples/cpp/custom_stage.yaml
// (or the file given as its first argument), runs it and prints the report:
//
//   build/release/examples/custom_stage [FILE] [stage.param=value]...
#include <utility>  // before Boost.Asio's awaitable.hpp (included by trainflow.hpp)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <trainflow/config/workflow.hpp>
#include <trainflow/ml.hpp>
#include <trainflow/registry/registry.hpp>
#include <trainflow/trainflow.hpp>

namespace tf = trainflow;
namespace ml = trainflow::ml;

namespace {

// `data` with the chosen numeric feature columns (all of them when `columns` is empty) clipped to
// [lower, upper] as float64 columns; missing values stay missing, other columns are shared.
tf::Result<ml::Dataset> clip(const ml::Dataset& data, const std::vector<std::string>& columns,
                             double lower, double upper) {
  if (!(lower <= upper)) {
    return tf::invalid_argument("clip: lower (" + std::to_string(lower) +
                                ") must not exceed upper (" + std::to_string(upper) + ")");
  }
  std::vector<std::size_t> chosen;
  for (const std::string& name : columns) {
    const std::optional<std::size_t> i = data.find(name);
    if (!i) return tf::invalid_argument("clip: no column '" + name + "'");
    if (!data.column(*i).is_numeric()) {
      return tf::invalid_argument("clip: column '" + name + "' is not numeric");
    }
    chosen.push_back(*i);
  }
  if (columns.empty()) chosen = data.numeric_feature_indices();

  const ml::Dataset compact = data.is_view() ? data.materialize() : data;
  std::vector<ml::Column> out;
  for (std::size_t c = 0; c < compact.num_columns(); ++c) {
    const ml::Column& column = compact.column(c);
    if (std::find(chosen.begin(), chosen.end(), c) == chosen.end()) {
      out.push_back(column);
      continue;
    }
    std::vector<double> values(compact.num_rows());
    for (std::size_t r = 0; r < values.size(); ++r) {
      const double v = column.numeric(r);
      values[r] = std::isnan(v) ? v : std::clamp(v, lower, upper);
    }
    out.push_back(ml::Column::float64(column.name(), std::move(values)));
  }
  return ml::Dataset::make(std::move(out), compact.target_name());
}

tf::Status register_clip(tf::StageRegistry& registry) {
  return registry.add(tf::make_stage_type<ml::Dataset>(
      {.name = "clip",
       .doc = "Limits numeric feature columns to [lower, upper]",
       .version = 1,
       .params = {{.name = "lower",
                   .type = tf::ParamType::kDouble,
                   .doc = "smallest value kept",
                   .default_value = -3.0},
                  {.name = "upper",
                   .type = tf::ParamType::kDouble,
                   .doc = "largest value kept",
                   .default_value = 3.0},
                  {.name = "columns",
                   .type = tf::ParamType::kStringList,
                   .doc = "numeric columns to clip; empty: every numeric feature column",
                   .default_value = std::vector<std::string>{}}},
       .inputs = {"data"},
       .outputs = {"data"},
       .input_docs = {"the table"},
       .output_docs = {"the table, clipped"}},
      [](const tf::Params& p, tf::StageContext&, const ml::Dataset& data) {
        return clip(data, p.get<std::vector<std::string>>("columns"), p.get<double>("lower"),
                    p.get<double>("upper"));
      }));
}

}  // namespace

int main(int argc, char** argv) {
  // The process-wide registry already holds the built-in stages; `clip` joins them.
  if (tf::Status added = register_clip(tf::default_registry()); !added.ok()) {
    std::cerr << added.message() << "\n";
    return 2;
  }
  const std::string file = argc > 1 ? argv[1] : TRAINFLOW_EXAMPLES_DIR "/cpp/custom_stage.yaml";
  tf::config::LoadOptions options;
  for (int i = 2; i < argc; ++i) options.overrides.emplace_back(argv[i]);
  tf::Result<tf::config::Workflow> workflow = tf::config::load_workflow(file, options);
  if (!workflow) {
    std::cerr << workflow.error().message() << "\n";
    return 2;
  }

  tf::Executor executor;
  const tf::RunReport report = executor.run(workflow->graph, {.seed = workflow->seed});
  std::cout << report.to_string();
  return report.ok() ? 0 : 1;
}
