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
#include <string>

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

}  // namespace trainflow::ml
