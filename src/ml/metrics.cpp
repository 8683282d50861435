#include "trainflow/ml/metrics.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

namespace trainflow::ml {
namespace {

// Rows of class probabilities must sum to 1 within this (scikit-learn's np.allclose tolerance).
constexpr double kRowSumTolerance = 1e-5;

std::string format_double(double value) {
  std::array<char, 32> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  assert(ec == std::errc{});
  return std::string(buffer.data(), end);
}

Status check_sizes(std::size_t n_true, std::size_t n_pred, std::string_view pred_name) {
  if (n_true == 0) return invalid_argument("y_true is empty; a metric needs at least one sample");
  if (n_pred != n_true) {
    return invalid_argument("y_true has " + std::to_string(n_true) + " values but " +
                            std::string(pred_name) + " has " + std::to_string(n_pred));
  }
  return ok_status();
}

Status check_num_classes(std::int32_t num_classes, std::int32_t minimum) {
  if (num_classes < minimum) {
    return invalid_argument("num_classes = " + std::to_string(num_classes) + " must be at least " +
                            std::to_string(minimum));
  }
  return ok_status();
}

Status check_labels(std::span<const std::int32_t> labels, std::string_view name,
                    std::int32_t num_classes) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return invalid_argument(std::string(name) + "[" + std::to_string(i) +
                              "] = " + std::to_string(labels[i]) + " is outside [0, " +
                              std::to_string(num_classes) + ")");
    }
  }
  return ok_status();
}

// NaN and infinities are rejected like scikit-learn's check_array does.
Status check_finite(std::span<const double> values, std::string_view name) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return invalid_argument(std::string(name) + "[" + std::to_string(i) + "] is " +
                              format_double(values[i]) + "; every value must be finite");
    }
  }
  return ok_status();
}

Status check_probabilities(std::span<const double> values, std::string_view name) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] >= 0.0 && values[i] <= 1.0)) {  // also catches NaN
      return invalid_argument(std::string(name) + "[" + std::to_string(i) + "] = " +
                              format_double(values[i]) + " is not a probability in [0, 1]");
    }
  }
  return ok_status();
}

// Checks a row-major n x k probability matrix: its size, its values and its row sums.
Status check_probability_rows(std::span<const double> probabilities, std::size_t n,
                              std::int32_t num_classes) {
  const auto k = static_cast<std::size_t>(num_classes);
  if (probabilities.size() != n * k) {
    return invalid_argument("probabilities has " + std::to_string(probabilities.size()) +
                            " values; expected y_true.size() * num_classes = " + std::to_string(n) +
                            " * " + std::to_string(k) + " = " + std::to_string(n * k) +
                            " (row-major)");
  }
  if (Status s = check_probabilities(probabilities, "probabilities"); !s.ok()) return s;
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = probabilities.subspan(i * k, k);
    const double sum = std::accumulate(row.begin(), row.end(), 0.0);
    if (std::abs(sum - 1.0) > kRowSumTolerance) {
      return invalid_argument("probabilities row " + std::to_string(i) + " sums to " +
                              format_double(sum) + ", not 1; pass class probabilities");
    }
  }
  return ok_status();
}

// The arguments of the multiclass probability metrics (roc_auc_ovr, log_loss): at least two
// classes, a non-empty y_true of labels in [0, num_classes), and a matching row-major matrix of
// class probabilities whose rows sum to 1.
Status check_class_probabilities(std::span<const std::int32_t> y_true,
                                 std::span<const double> probabilities, std::int32_t num_classes) {
  if (Status s = check_num_classes(num_classes, 2); !s.ok()) return s;
  if (y_true.empty()) {
    return invalid_argument("y_true is empty; a metric needs at least one sample");
  }
  if (Status s = check_labels(y_true, "y_true", num_classes); !s.ok()) return s;
  return check_probability_rows(probabilities, y_true.size(), num_classes);
}

Status check_classification(std::span<const std::int32_t> y_true,
                            std::span<const std::int32_t> y_pred, std::int32_t num_classes) {
  if (Status s = check_num_classes(num_classes, 1); !s.ok()) return s;
  if (Status s = check_sizes(y_true.size(), y_pred.size(), "y_pred"); !s.ok()) return s;
  if (Status s = check_labels(y_true, "y_true", num_classes); !s.ok()) return s;
  return check_labels(y_pred, "y_pred", num_classes);
}

// Per class: true positives, predicted count (tp + fp) and support (tp + fn).
struct ClassCounts {
  std::vector<std::int64_t> true_positives;
  std::vector<std::int64_t> predicted;
  std::vector<std::int64_t> support;
};

// REQUIRES: check_classification passed.
ClassCounts count_classes(std::span<const std::int32_t> y_true,
                          std::span<const std::int32_t> y_pred, std::int32_t num_classes) {
  const auto k = static_cast<std::size_t>(num_classes);
  ClassCounts counts{std::vector<std::int64_t>(k), std::vector<std::int64_t>(k),
                     std::vector<std::int64_t>(k)};
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const auto t = static_cast<std::size_t>(y_true[i]);
    const auto p = static_cast<std::size_t>(y_pred[i]);
    ++counts.support[t];
    ++counts.predicted[p];
    if (t == p) ++counts.true_positives[t];
  }
  return counts;
}

double ratio_or_zero(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

enum class Score : std::uint8_t { kPrecision, kRecall, kF1 };

double class_score(const ClassCounts& c, std::size_t cls, Score score) {
  const std::int64_t tp = c.true_positives[cls];
  switch (score) {
    case Score::kPrecision: return ratio_or_zero(tp, c.predicted[cls]);
    case Score::kRecall: return ratio_or_zero(tp, c.support[cls]);
    case Score::kF1: return ratio_or_zero(2 * tp, c.predicted[cls] + c.support[cls]);
  }
  return 0.0;
}

Result<double> averaged_score(std::span<const std::int32_t> y_true,
                              std::span<const std::int32_t> y_pred, std::int32_t num_classes,
                              Average average, Score score) {
  if (Status s = check_classification(y_true, y_pred, num_classes); !s.ok()) return s;
  if (average == Average::kBinary && num_classes != 2) {
    return invalid_argument("Average::kBinary needs num_classes == 2 (positive class 1), got " +
                            std::to_string(num_classes) + "; use kMacro or kWeighted");
  }
  const ClassCounts counts = count_classes(y_true, y_pred, num_classes);
  if (average == Average::kBinary) return class_score(counts, 1, score);

  double sum = 0.0;
  double total_weight = 0.0;
  for (std::size_t c = 0; c < counts.support.size(); ++c) {
    if (counts.support[c] == 0 && counts.predicted[c] == 0) continue;  // scikit-learn's labels
    const double weight = average == Average::kMacro ? 1.0 : static_cast<double>(counts.support[c]);
    sum += weight * class_score(counts, c, score);
    total_weight += weight;
  }
  // total_weight > 0: y_true is not empty, so some class has support (and is counted).
  return sum / total_weight;
}

// Mann-Whitney U over #positives * #negatives, ties counting 1/2. `is_positive(i)` says whether
// sample i is positive; REQUIRES: scores finite, both classes present.
template <class IsPositive>
double mann_whitney_auc(std::span<const double> scores, IsPositive is_positive) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Twice the U statistic, exact in integers: each positive counts 2 per negative below it and
  // 1 per negative with the same score.
  std::uint64_t twice_u = 0;
  std::uint64_t negatives_below = 0;
  std::uint64_t positives = 0;
  for (std::size_t begin = 0; begin < order.size();) {
    std::size_t end = begin;
    std::uint64_t group_positives = 0;
    std::uint64_t group_negatives = 0;
    while (end < order.size() && scores[order[end]] == scores[order[begin]]) {
      if (is_positive(order[end])) {
        ++group_positives;
      } else {
        ++group_negatives;
      }
      ++end;
    }
    twice_u += group_positives * (2 * negatives_below + group_negatives);
    negatives_below += group_negatives;
    positives += group_positives;
    begin = end;
  }
  const std::uint64_t negatives = negatives_below;
  assert(positives > 0 && negatives > 0);
  return static_cast<double>(twice_u) /
         (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
}

double clipped_log(double p) {
  return std::log(std::clamp(p, kLogLossEpsilon, 1.0 - kLogLossEpsilon));
}

struct NameInfo {
  std::string_view name;
  bool higher_is_better;
};

constexpr std::array<NameInfo, 9> kMetrics{{
    {"accuracy", true},
    {"precision", true},
    {"recall", true},
    {"f1", true},
    {"roc_auc", true},
    {"log_loss", false},
    {"rmse", false},
    {"mae", false},
    {"r2", true},
}};

constexpr std::array<std::string_view, kMetrics.size()> kMetricNames = [] {
  std::array<std::string_view, kMetrics.size()> names{};
  for (std::size_t i = 0; i < kMetrics.size(); ++i) names[i] = kMetrics[i].name;
  return names;
}();

}  // namespace

std::string_view to_string(Average average) noexcept {
  switch (average) {
    case Average::kBinary: return "binary";
    case Average::kMacro: return "macro";
    case Average::kWeighted: return "weighted";
  }
  return "unknown";
}

// --- ConfusionMatrix ---

ConfusionMatrix::ConfusionMatrix(std::int32_t num_classes)
    : num_classes_(num_classes),
      counts_(static_cast<std::size_t>(num_classes) * static_cast<std::size_t>(num_classes)) {
  assert(num_classes >= 0);
}

std::int64_t ConfusionMatrix::operator()(std::int32_t true_class,
                                         std::int32_t predicted_class) const noexcept {
  assert(true_class >= 0 && true_class < num_classes_);
  assert(predicted_class >= 0 && predicted_class < num_classes_);
  return counts_[static_cast<std::size_t>(true_class) * static_cast<std::size_t>(num_classes_) +
                 static_cast<std::size_t>(predicted_class)];
}

std::int64_t ConfusionMatrix::total() const noexcept {
  return std::accumulate(counts_.begin(), counts_.end(), std::int64_t{0});
}

std::int64_t ConfusionMatrix::trace() const noexcept {
  std::int64_t sum = 0;
  for (std::int32_t c = 0; c < num_classes_; ++c) sum += (*this)(c, c);
  return sum;
}

std::string ConfusionMatrix::to_string() const {
  constexpr std::string_view kCorner = "true\\pred";
  std::size_t width = 1;
  for (const std::int64_t count : counts_) width = std::max(width, std::to_string(count).size());
  if (num_classes_ > 0) width = std::max(width, std::to_string(num_classes_ - 1).size());
  const auto pad = [](std::string& out, std::string_view cell, std::size_t cell_width) {
    out.append(cell_width - std::min(cell_width, cell.size()), ' ');
    out += cell;
  };
  std::string out{kCorner};
  for (std::int32_t p = 0; p < num_classes_; ++p) {
    out += "  ";
    pad(out, std::to_string(p), width);
  }
  out += '\n';
  for (std::int32_t t = 0; t < num_classes_; ++t) {
    pad(out, std::to_string(t), kCorner.size());
    for (std::int32_t p = 0; p < num_classes_; ++p) {
      out += "  ";
      pad(out, std::to_string((*this)(t, p)), width);
    }
    out += '\n';
  }
  return out;
}

// --- Classification ---

Result<ConfusionMatrix> confusion_matrix(std::span<const std::int32_t> y_true,
                                         std::span<const std::int32_t> y_pred,
                                         std::int32_t num_classes) {
  if (Status s = check_classification(y_true, y_pred, num_classes); !s.ok()) return s;
  ConfusionMatrix matrix(num_classes);
  const auto k = static_cast<std::size_t>(num_classes);
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    ++matrix.counts_[static_cast<std::size_t>(y_true[i]) * k + static_cast<std::size_t>(y_pred[i])];
  }
  return matrix;
}

Result<double> accuracy(std::span<const std::int32_t> y_true, std::span<const std::int32_t> y_pred,
                        std::int32_t num_classes) {
  if (Status s = check_classification(y_true, y_pred, num_classes); !s.ok()) return s;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) correct += y_true[i] == y_pred[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(y_true.size());
}

Result<double> precision(std::span<const std::int32_t> y_true, std::span<const std::int32_t> y_pred,
                         std::int32_t num_classes, Average average) {
  return averaged_score(y_true, y_pred, num_classes, average, Score::kPrecision);
}

Result<double> recall(std::span<const std::int32_t> y_true, std::span<const std::int32_t> y_pred,
                      std::int32_t num_classes, Average average) {
  return averaged_score(y_true, y_pred, num_classes, average, Score::kRecall);
}

Result<double> f1(std::span<const std::int32_t> y_true, std::span<const std::int32_t> y_pred,
                  std::int32_t num_classes, Average average) {
  return averaged_score(y_true, y_pred, num_classes, average, Score::kF1);
}

// --- Scores and probabilities ---

Result<double> roc_auc(std::span<const std::int32_t> y_true, std::span<const double> scores) {
  if (Status s = check_sizes(y_true.size(), scores.size(), "scores"); !s.ok()) return s;
  if (Status s = check_labels(y_true, "y_true", 2); !s.ok()) return s;
  if (Status s = check_finite(scores, "scores"); !s.ok()) return s;
  const auto positives = std::count(y_true.begin(), y_true.end(), 1);
  if (positives == 0 || static_cast<std::size_t>(positives) == y_true.size()) {
    return invalid_argument("roc_auc is undefined when y_true holds one class only (all " +
                            std::to_string(y_true.size()) + " samples are " +
                            (positives == 0 ? "0" : "1") + "); it needs both 0 and 1");
  }
  return mann_whitney_auc(scores, [&](std::size_t i) { return y_true[i] == 1; });
}

Result<double> roc_auc_ovr(std::span<const std::int32_t> y_true,
                           std::span<const double> probabilities, std::int32_t num_classes) {
  if (Status s = check_class_probabilities(y_true, probabilities, num_classes); !s.ok()) return s;
  const auto k = static_cast<std::size_t>(num_classes);
  std::vector<std::size_t> support(k);
  for (const std::int32_t label : y_true) ++support[static_cast<std::size_t>(label)];
  for (std::size_t c = 0; c < k; ++c) {
    if (support[c] == 0) {
      return invalid_argument("class " + std::to_string(c) +
                              " never occurs in y_true; one-vs-rest roc_auc needs every class in "
                              "[0, " +
                              std::to_string(k) + ") present");
    }
  }
  const std::size_t n = y_true.size();
  std::vector<double> column(n);
  double sum = 0.0;
  for (std::size_t c = 0; c < k; ++c) {
    for (std::size_t i = 0; i < n; ++i) column[i] = probabilities[i * k + c];
    const auto cls = static_cast<std::int32_t>(c);
    sum += mann_whitney_auc(column, [&](std::size_t i) { return y_true[i] == cls; });
  }
  return sum / static_cast<double>(k);
}

Result<double> log_loss(std::span<const std::int32_t> y_true, std::span<const double> p_positive) {
  if (Status s = check_sizes(y_true.size(), p_positive.size(), "p_positive"); !s.ok()) return s;
  if (Status s = check_labels(y_true, "y_true", 2); !s.ok()) return s;
  if (Status s = check_probabilities(p_positive, "p_positive"); !s.ok()) return s;
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    // Clip the probability of the true class, as scikit-learn clips both columns of [1-p, p].
    sum -= clipped_log(y_true[i] == 1 ? p_positive[i] : 1.0 - p_positive[i]);
  }
  return sum / static_cast<double>(y_true.size());
}

Result<double> log_loss(std::span<const std::int32_t> y_true, std::span<const double> probabilities,
                        std::int32_t num_classes) {
  if (Status s = check_class_probabilities(y_true, probabilities, num_classes); !s.ok()) return s;
  const auto k = static_cast<std::size_t>(num_classes);
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    sum -= clipped_log(probabilities[i * k + static_cast<std::size_t>(y_true[i])]);
  }
  return sum / static_cast<double>(y_true.size());
}

// --- Regression ---

namespace {

Status check_regression(std::span<const double> y_true, std::span<const double> y_pred) {
  if (Status s = check_sizes(y_true.size(), y_pred.size(), "y_pred"); !s.ok()) return s;
  if (Status s = check_finite(y_true, "y_true"); !s.ok()) return s;
  return check_finite(y_pred, "y_pred");
}

}  // namespace

Result<double> rmse(std::span<const double> y_true, std::span<const double> y_pred) {
  if (Status s = check_regression(y_true, y_pred); !s.ok()) return s;
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    const double d = y_true[i] - y_pred[i];
    sum += d * d;
  }
  return std::sqrt(sum / static_cast<double>(y_true.size()));
}

Result<double> mae(std::span<const double> y_true, std::span<const double> y_pred) {
  if (Status s = check_regression(y_true, y_pred); !s.ok()) return s;
  double sum = 0.0;
  for (std::size_t i = 0; i < y_true.size(); ++i) sum += std::abs(y_true[i] - y_pred[i]);
  return sum / static_cast<double>(y_true.size());
}

Result<double> r2(std::span<const double> y_true, std::span<const double> y_pred) {
  if (Status s = check_regression(y_true, y_pred); !s.ok()) return s;
  const std::size_t n = y_true.size();
  if (n < 2) {
    return invalid_argument("r2 needs at least 2 samples, got " + std::to_string(n) +
                            "; it is undefined for one");
  }
  double residual = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = y_true[i] - y_pred[i];
    residual += d * d;
  }
  // Constant y_true is detected exactly rather than through a total that rounding might leave a
  // hair above 0 (the mean of three 0.1s is not 0.1 in binary).
  const bool constant =
      std::all_of(y_true.begin(), y_true.end(), [&](double y) { return y == y_true.front(); });
  if (constant) return residual == 0.0 ? 1.0 : 0.0;
  const double mean = std::accumulate(y_true.begin(), y_true.end(), 0.0) / static_cast<double>(n);
  double total = 0.0;
  for (const double y : y_true) total += (y - mean) * (y - mean);
  return 1.0 - residual / total;
}

// --- Names ---

std::span<const std::string_view> metric_names() noexcept {
  return kMetricNames;
}

Result<bool> higher_is_better(std::string_view metric) {
  for (const NameInfo& info : kMetrics) {
    if (info.name == metric) return info.higher_is_better;
  }
  std::string known;
  for (const std::string_view name : kMetricNames) {
    if (!known.empty()) known += ", ";
    known += name;
  }
  return not_found("unknown metric '" + std::string(metric) + "'; known metrics: " + known);
}

}  // namespace trainflow::ml
