#include "trainflow/ml/model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model_support.hpp"
#include "trainflow/ml/linear.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/mlp.hpp"

namespace trainflow::ml {
namespace detail {

Status check_finite(const Dataset& data, std::size_t col, std::string_view what) {
  const Column& column = data.column(col);
  for (std::size_t r = 0; r < data.num_rows(); ++r) {
    const double v = data.numeric(col, r);
    if (std::isfinite(v)) continue;
    if (std::isnan(v)) {
      return invalid_argument(std::string(what) + ": column '" + column.name() + "' row " +
                              std::to_string(r) +
                              " is missing; impute missing values first (e.g. SimpleImputer)");
    }
    return invalid_argument(std::string(what) + ": column '" + column.name() + "' row " +
                            std::to_string(r) + " is infinite; only finite values can be used");
  }
  return ok_status();
}

Result<std::vector<std::size_t>> training_features(const Dataset& train, std::string_view what) {
  const std::string where(what);
  if (!train.target_index()) {
    return invalid_argument(where +
                            ": the dataset has no target column; name one in Dataset::make");
  }
  if (const std::vector<std::size_t> cats = train.categorical_feature_indices(); !cats.empty()) {
    return invalid_argument(where + ": feature column '" + train.column(cats.front()).name() +
                            "' is categorical; encode it as numeric columns first (e.g. one-hot)");
  }
  std::vector<std::size_t> features = train.numeric_feature_indices();
  if (features.empty()) {
    return invalid_argument(where + ": the dataset has no numeric feature column");
  }
  if (train.num_rows() == 0) return invalid_argument(where + ": the dataset has no rows");
  for (std::size_t col : features) {
    if (Status status = check_finite(train, col, what); !status.ok()) return status;
  }
  return features;
}

Result<std::vector<std::size_t>> bind_features(const Dataset& data,
                                               std::span<const std::string> names,
                                               std::string_view what) {
  std::vector<std::size_t> cols;
  cols.reserve(names.size());
  for (const std::string& name : names) {
    const std::optional<std::size_t> col = data.find(name);
    if (!col) {
      return not_found(std::string(what) + ": no feature column '" + name +
                       "' in the dataset; the model was fitted on it");
    }
    if (!data.column(*col).is_numeric()) {
      return invalid_argument(std::string(what) + ": feature column '" + name +
                              "' is categorical; the model needs it numeric");
    }
    if (Status status = check_finite(data, *col, what); !status.ok()) return status;
    cols.push_back(*col);
  }
  return cols;
}

std::vector<std::string> column_names(const Dataset& data, std::span<const std::size_t> cols) {
  std::vector<std::string> names;
  names.reserve(cols.size());
  for (std::size_t col : cols) names.push_back(data.column(col).name());
  return names;
}

namespace {

// The shortest decimal form that reads back to `v` ("0", "1", "2.5", "1e+300").
std::string shortest(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

Result<TrainingClasses> training_classes(const Dataset& train, std::string_view what) {
  const std::string where(what);
  const std::optional<std::size_t> target = train.target_index();
  if (!target) {
    return invalid_argument(where +
                            ": the dataset has no target column; name one in Dataset::make");
  }
  const Column& column = train.column(*target);
  const std::size_t n = train.num_rows();
  TrainingClasses out;
  out.labels.resize(n);
  if (!column.is_numeric()) {
    // The categories that occur, in dictionary order.
    std::vector<std::int32_t> slot(column.categories().size(), -1);
    for (std::size_t r = 0; r < n; ++r) {
      const std::int32_t code = train.code(*target, r);
      if (code < 0) {
        return invalid_argument(where + ": target column '" + column.name() + "' row " +
                                std::to_string(r) +
                                " is missing; drop rows without a label before training");
      }
      slot[static_cast<std::size_t>(code)] = 0;
    }
    for (std::size_t c = 0; c < slot.size(); ++c) {
      if (slot[c] < 0) continue;
      slot[c] = static_cast<std::int32_t>(out.classes.size());
      out.classes.push_back(column.categories()[c]);
    }
    for (std::size_t r = 0; r < n; ++r) {
      out.labels[r] = slot[static_cast<std::size_t>(train.code(*target, r))];
    }
  } else {
    std::vector<double> values(n);
    for (std::size_t r = 0; r < n; ++r) {
      values[r] = train.numeric(*target, r);
      if (!std::isfinite(values[r])) {
        return invalid_argument(where + ": target column '" + column.name() + "' row " +
                                std::to_string(r) + " is " +
                                (std::isnan(values[r]) ? "missing" : "infinite") +
                                "; a class label must be a finite number or a category");
      }
    }
    std::vector<double> distinct = values;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (double v : distinct) out.classes.push_back(shortest(v == 0 ? 0.0 : v));
    for (std::size_t r = 0; r < n; ++r) {
      out.labels[r] = static_cast<std::int32_t>(
          std::lower_bound(distinct.begin(), distinct.end(), values[r]) - distinct.begin());
    }
  }
  if (out.classes.size() < 2) {
    return invalid_argument(where + ": target column '" + column.name() + "' has " +
                            std::to_string(out.classes.size()) +
                            " class in the training rows; a classifier needs at least 2");
  }
  return out;
}

}  // namespace detail

std::string_view to_string(Task task) noexcept {
  return task == Task::kRegression ? "regression" : "classification";
}

Result<std::shared_ptr<const Model>> load_model(std::string_view bytes) {
  // Each model's bytes start with its own 8-byte magic.
  const auto load = [&](auto from_bytes) -> Result<std::shared_ptr<const Model>> {
    auto model = from_bytes(bytes);
    if (!model) return std::move(model).error();
    return std::shared_ptr<const Model>(
        std::make_shared<std::remove_cvref_t<decltype(*model)>>(std::move(*model)));
  };
  const std::string_view magic = bytes.substr(0, 8);
  if (magic == "TFLINEAR") return load(&LinearModel::from_bytes);
  if (magic == "TFLOGIST") return load(&LogisticModel::from_bytes);
  if (magic == "TFMLPNET") return load(&MlpModel::from_bytes);
  return invalid_argument("load_model: not a trainflow model (unknown magic in the first 8 of " +
                          std::to_string(bytes.size()) + " bytes)");
}

Result<std::vector<std::int32_t>> encode_labels(const Dataset& data,
                                                std::span<const std::string> classes) {
  const std::optional<std::size_t> target = data.target_index();
  if (!target) {
    return invalid_argument(
        "encode_labels: the dataset has no target column; name one in "
        "Dataset::make");
  }
  std::unordered_map<std::string, std::int32_t> index;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    index.emplace(classes[c], static_cast<std::int32_t>(c));
  }
  const Column& column = data.column(*target);
  const auto unknown = [&](std::size_t r, const std::string& value) {
    return invalid_argument("encode_labels: target column '" + column.name() + "' row " +
                            std::to_string(r) + " is '" + value +
                            "', which is not a class of the model (it was not in the training "
                            "rows)");
  };
  std::vector<std::int32_t> labels(data.num_rows());
  if (!column.is_numeric()) {
    // One lookup per category, not per row.
    std::vector<std::int32_t> slot(column.categories().size());
    for (std::size_t c = 0; c < slot.size(); ++c) {
      const auto it = index.find(column.categories()[c]);
      slot[c] = it == index.end() ? -1 : it->second;
    }
    for (std::size_t r = 0; r < labels.size(); ++r) {
      const std::int32_t code = data.code(*target, r);
      if (code < 0) {
        return invalid_argument("encode_labels: target column '" + column.name() + "' row " +
                                std::to_string(r) + " is missing");
      }
      labels[r] = slot[static_cast<std::size_t>(code)];
      if (labels[r] < 0) return unknown(r, column.categories()[static_cast<std::size_t>(code)]);
    }
    return labels;
  }
  for (std::size_t r = 0; r < labels.size(); ++r) {
    const double v = data.numeric(*target, r);
    if (std::isnan(v)) {
      return invalid_argument("encode_labels: target column '" + column.name() + "' row " +
                              std::to_string(r) + " is missing");
    }
    const std::string name = detail::shortest(v == 0 ? 0.0 : v);
    const auto it = index.find(name);
    if (it == index.end()) return unknown(r, name);
    labels[r] = it->second;
  }
  return labels;
}

Result<std::vector<double>> target_values(const Dataset& data) {
  const std::optional<std::size_t> target = data.target_index();
  if (!target) {
    return invalid_argument(
        "target_values: the dataset has no target column; name one in "
        "Dataset::make");
  }
  const Column& column = data.column(*target);
  if (!column.is_numeric()) {
    return invalid_argument("target_values: target column '" + column.name() +
                            "' is categorical; regression metrics need a numeric target");
  }
  std::vector<double> values(data.num_rows());
  for (std::size_t r = 0; r < values.size(); ++r) {
    values[r] = data.numeric(*target, r);
    if (std::isnan(values[r])) {
      return invalid_argument("target_values: target column '" + column.name() + "' row " +
                              std::to_string(r) + " is missing");
    }
  }
  return values;
}

Result<Dataset> predictions_table(const Model& model, const Dataset& data) {
  Result<Predictions> predicted = model.predict(data);
  if (!predicted) return std::move(predicted).error();
  Predictions& p = *predicted;
  const std::size_t n = data.num_rows();
  std::vector<Column> columns;
  std::string target_name;
  if (const std::optional<std::size_t> target = data.target_index()) {
    Result<Dataset> only = data.select_columns(std::span(&data.target_name(), 1));
    if (!only) return std::move(only).error();
    columns.push_back(only->materialize().column(0));
    target_name = data.target_name();
  }
  const auto taken = [&](std::string_view name) {
    for (const Column& c : columns) {
      if (c.name() == name) return true;
    }
    return false;
  };
  const auto add = [&](std::string name, auto&& make) -> Status {
    if (taken(name)) {
      return invalid_argument("predictions_table: the target column is called '" + name +
                              "', which is also the name of an output column; rename it");
    }
    columns.push_back(make(std::move(name)));
    return ok_status();
  };
  Status status;
  if (p.task == Task::kRegression) {
    status = add("prediction", [&](std::string name) {
      return Column::float64(std::move(name), std::move(p.values));
    });
  } else {
    status = add("prediction", [&](std::string name) {
      return Column::categorical(std::move(name), std::move(p.labels), p.classes);
    });
    for (std::size_t c = 0; c < p.classes.size() && status.ok(); ++c) {
      status = add("proba_" + p.classes[c], [&](std::string name) {
        std::vector<double> column(n);
        for (std::size_t r = 0; r < n; ++r) {
          column[r] = p.probabilities(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
        }
        return Column::float64(std::move(name), std::move(column));
      });
    }
  }
  if (!status.ok()) return status;
  return Dataset::make(std::move(columns), std::move(target_name));
}

}  // namespace trainflow::ml
