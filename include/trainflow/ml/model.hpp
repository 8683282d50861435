// Model: what every fitted model is to the stages that use it — predict, evaluate, save and load —
// whatever learned it (linear_regression, logistic_regression, mlp_classifier, mlp_regressor).
//
//   Result<LogisticModel> fitted = fit_logistic_regression(train, {.l2 = 1.0});
//   const Model& model = *fitted;
//   Result<Predictions> p = model.predict(test);            // labels and probabilities
//   Result<Dataset> table = predictions_table(model, test);  // "prediction", "proba_<class>", ...
//   Result<std::shared_ptr<const Model>> again = load_model(model.to_bytes());
//
// Models are immutable values after fitting: safe to share by threads.
//
// Classes. A classifier's classes are learned from its training target: for a categorical target,
// the categories that occur in the training rows, in dictionary order; for a numeric target, the
// distinct values in increasing order, named by their shortest decimal form ("0", "1", "2.5").
// Class index c (in labels and probability columns) is classes()[c]. Other datasets are matched
// to the classes by name, so a test set with another dictionary order is read correctly.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

enum class Task : std::uint8_t { kRegression, kClassification };

// "regression", "classification".
std::string_view to_string(Task task) noexcept;

// A model's output for the rows of a dataset, in row order.
struct Predictions {
  Task task = Task::kRegression;
  // Regression: one predicted value per row. Empty for classification.
  std::vector<double> values{};
  // Classification: the class names (the model's classes()), the predicted class index of each
  // row (the most probable class; the lowest index on an exact tie), and a rows x classes
  // row-major matrix of probabilities, each row summing to 1. Empty for regression.
  std::vector<std::string> classes{};
  std::vector<std::int32_t> labels{};
  RowMatrix probabilities{};
};

class Model {
 public:
  virtual ~Model() = default;

  // The stage type that learns this kind of model: "linear_regression", "logistic_regression",
  // "mlp_classifier", "mlp_regressor".
  virtual std::string_view kind() const noexcept = 0;
  virtual Task task() const noexcept = 0;
  // The numeric columns the model reads, found by name in the datasets it predicts.
  virtual const std::vector<std::string>& feature_names() const noexcept = 0;
  // Classification: the class names, index c being class c (at least 2). Regression: empty.
  virtual const std::vector<std::string>& classes() const noexcept = 0;

  // Predictions for the rows of `data` (a view predicts its own rows). Feature columns are found
  // by name; `data` needs no target. Fails with kNotFound naming a feature column that `data`
  // lacks, kInvalidArgument naming a categorical feature column or the column and row of a
  // missing or infinite value.
  virtual Result<Predictions> predict(const Dataset& data) const = 0;

  // The model as checksummed little-endian bytes that load_model() (or the concrete type's
  // from_bytes) reads back into a model whose predictions are bit-identical.
  virtual std::string to_bytes() const = 0;

 protected:
  Model() = default;
  Model(const Model&) = default;
  Model& operator=(const Model&) = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;
};

// Reads the bytes of any model's to_bytes(), dispatching on its magic. Fails with
// kInvalidArgument when the bytes are no model trainflow knows, or as the concrete from_bytes.
Result<std::shared_ptr<const Model>> load_model(std::string_view bytes);

// The class index of each row's target in `classes` (matched by name; see above). Fails with
// kInvalidArgument when `data` has no target, or naming the row and value of a missing target or
// of one that is not among `classes`.
Result<std::vector<std::int32_t>> encode_labels(const Dataset& data,
                                                std::span<const std::string> classes);

// The target of `data` as doubles, for regression metrics. Fails with kInvalidArgument when
// `data` has no target, a categorical one, or naming the row of a missing target.
Result<std::vector<double>> target_values(const Dataset& data);

// The predictions of `model` for `data` as a dataset of data's rows, for the predict stage and
// write_csv: the target column of `data` when it has one (copied, and still the target), then
// "prediction" (float64 for regression; categorical over the class names for classification),
// then for classifiers one float64 column "proba_<class>" per class. Fails as Model::predict.
Result<Dataset> predictions_table(const Model& model, const Dataset& data);

}  // namespace trainflow::ml
