#include "trainflow/ml/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace trainflow::ml {
namespace {

// Stores *value under `name`, or hands the error back.
Status put(Metrics& metrics, const char* name, Result<double> value) {
  if (!value) return std::move(value).error();
  metrics.emplace(name, *value);
  return ok_status();
}

}  // namespace

Result<Metrics> evaluate(const Model& model, const Dataset& data, const EvaluateOptions& options) {
  Result<Predictions> predicted = model.predict(data);
  if (!predicted) return std::move(predicted).error();
  const Predictions& p = *predicted;
  Metrics metrics;
  if (p.task == Task::kRegression) {
    Result<std::vector<double>> y = target_values(data);
    if (!y) return std::move(y).error();
    for (Status s :
         {put(metrics, "rmse", rmse(*y, p.values)), put(metrics, "mae", mae(*y, p.values))}) {
      if (!s.ok()) return s;
    }
    if (y->size() >= 2) {
      if (Status s = put(metrics, "r2", r2(*y, p.values)); !s.ok()) return s;
    }
    return metrics;
  }

  Result<std::vector<std::int32_t>> y = encode_labels(data, p.classes);
  if (!y) return std::move(y).error();
  const auto k = static_cast<std::int32_t>(p.classes.size());
  const Average average = options.average.value_or(k == 2 ? Average::kBinary : Average::kMacro);
  const std::span<const double> proba(p.probabilities.data(),
                                      static_cast<std::size_t>(p.probabilities.size()));
  for (Status s : {put(metrics, "accuracy", accuracy(*y, p.labels, k)),
                   put(metrics, "precision", precision(*y, p.labels, k, average)),
                   put(metrics, "recall", recall(*y, p.labels, k, average)),
                   put(metrics, "f1", f1(*y, p.labels, k, average))}) {
    if (!s.ok()) return s;
  }
  if (k == 2) {
    std::vector<double> positive(y->size());
    for (std::size_t r = 0; r < positive.size(); ++r) {
      positive[r] = p.probabilities(static_cast<Eigen::Index>(r), 1);
    }
    if (Status s = put(metrics, "log_loss", log_loss(*y, positive)); !s.ok()) return s;
    const bool both = std::find(y->begin(), y->end(), 0) != y->end() &&
                      std::find(y->begin(), y->end(), 1) != y->end();
    if (both) {
      if (Status s = put(metrics, "roc_auc", roc_auc(*y, positive)); !s.ok()) return s;
    }
  } else {
    if (Status s = put(metrics, "log_loss", log_loss(*y, proba, k)); !s.ok()) return s;
    std::vector<bool> present(static_cast<std::size_t>(k));
    for (std::int32_t label : *y) present[static_cast<std::size_t>(label)] = true;
    if (std::all_of(present.begin(), present.end(), [](bool b) { return b; })) {
      if (Status s = put(metrics, "roc_auc", roc_auc_ovr(*y, proba, k)); !s.ok()) return s;
    }
  }
  return metrics;
}

Result<std::size_t> best_trial(std::span<const Metrics> trials, std::string_view metric,
                               Objective objective) {
  if (trials.empty()) return invalid_argument("no trials to select from");
  bool maximise = objective == Objective::kMaximise;
  if (objective == Objective::kAuto) {
    Result<bool> higher = higher_is_better(metric);
    if (!higher) return std::move(higher).error();
    maximise = *higher;
  }
  std::size_t best = trials.size();
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto it = trials[i].find(metric);
    if (it == trials[i].end()) {
      return invalid_argument("trial " + std::to_string(i) + " has no metric '" +
                              std::string(metric) +
                              "' (evaluate leaves roc_auc out when a class is absent, r2 with "
                              "fewer than 2 rows); choose another metric");
    }
    if (std::isnan(it->second)) continue;
    if (best == trials.size() || (maximise ? it->second > trials[best].find(metric)->second
                                           : it->second < trials[best].find(metric)->second)) {
      best = i;
    }
  }
  if (best == trials.size()) {
    return invalid_argument("every trial's '" + std::string(metric) +
                            "' is NaN; nothing to select");
  }
  return best;
}

}  // namespace trainflow::ml
