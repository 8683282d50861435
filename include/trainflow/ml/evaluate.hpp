// evaluate(): the standard metrics of a fitted model on a labelled dataset, by name, as the
// evaluate stage reports them and a Gate checks them.
//
//   Result<Metrics> m = evaluate(*model, test);
//   Status passed = Gate::parse(conditions)->check(*m);
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/metrics.hpp"
#include "trainflow/ml/model.hpp"

namespace trainflow::ml {

// Metric name -> value (names from metric_names()).
using Metrics = std::map<std::string, double, std::less<>>;

struct EvaluateOptions {
  // How precision, recall and F1 combine classes. Default std::nullopt: kBinary for two classes
  // (class index 1, the model's classes()[1], is the positive one), kMacro otherwise.
  std::optional<Average> average{};
};

// Predicts `data` with `model` and scores the predictions against data's target.
// Classification: accuracy, precision, recall, f1, log_loss, and roc_auc (binary: on the
// probability of class 1; more classes: one-vs-rest macro, left out when a class is absent from
// data's target since its AUC is undefined). Regression: rmse, mae, r2 (r2 left out with fewer
// than 2 rows). Fails as Model::predict, encode_labels or target_values, and as the metric
// functions on empty data.
Result<Metrics> evaluate(const Model& model, const Dataset& data,
                         const EvaluateOptions& options = {});

// Which way best_trial() compares a metric.
enum class Objective : std::uint8_t {
  kAuto,      // higher_is_better(metric): max for scores, min for the losses
  kMaximise,  //
  kMinimise,  //
};

// The index of the best of `trials` by `metric`: the first of equal ones, NaN values never
// winning. This is what the select_best stage picks. Fails with kInvalidArgument when `trials`
// is empty, a trial lacks the metric (the message names the trial's index), or every value is
// NaN; with kNotFound as higher_is_better() for an unknown metric under kAuto.
Result<std::size_t> best_trial(std::span<const Metrics> trials, std::string_view metric,
                               Objective objective = Objective::kAuto);

}  // namespace trainflow::ml
