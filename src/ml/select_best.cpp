// The select_best stage type: picks the best of a sweep's trials by one metric. A workflow file
// hands it every trial's model and metrics as lists (the loader gathers them in sweep order).
#include <cstdint>
#include <string>
#include <vector>

#include "trainflow/ml/metrics.hpp"
#include "trainflow/ml/stages.hpp"
#include "trainflow/registry/registry.hpp"

namespace trainflow::ml {

StageType select_best_type() {
  std::vector<std::string> metrics;
  for (std::string_view name : metric_names()) metrics.emplace_back(name);
  return make_stage_type<std::vector<ModelPtr>, std::vector<Metrics>>(
      {.name = "select_best",
       .doc = "Picks the trial whose metric is best (the first on ties) and passes on its model "
              "and metrics",
       .params =
           {
               {.name = "metric",
                .type = ParamType::kString,
                .doc = "the metric to compare, as evaluate names it",
                .choices = metrics},
               {.name = "mode",
                .type = ParamType::kString,
                .doc = "max or min; auto: max where higher is better (accuracy, f1, roc_auc, r2, "
                       "...), min for losses (log_loss, rmse, mae)",
                .default_value = std::string("auto"),
                .choices = {"auto", "max", "min"}},
           },
       .inputs = {"models", "metrics"},
       .outputs = {"model", "metrics", "index"},
       .input_docs = {"one model per trial", "the trials' metrics, in the same order"},
       .output_docs = {"the best trial's model", "its metrics", "its index among the trials"}},
      [](const Params& p, StageContext&, const std::vector<ModelPtr>& models,
         const std::vector<Metrics>& trials) -> Result<Outputs<ModelPtr, Metrics, std::int64_t>> {
        if (models.size() != trials.size()) {
          return invalid_argument("got " + std::to_string(models.size()) + " models but " +
                                  std::to_string(trials.size()) +
                                  " metrics; bind both inputs to the same sweep");
        }
        const std::string& mode = p.get<std::string>("mode");
        Result<std::size_t> best = best_trial(trials, p.get<std::string>("metric"),
                                              mode == "max"   ? Objective::kMaximise
                                              : mode == "min" ? Objective::kMinimise
                                                              : Objective::kAuto);
        if (!best) return std::move(best).error();
        return outputs(models[*best], trials[*best], static_cast<std::int64_t>(*best));
      });
}

}  // namespace trainflow::ml
