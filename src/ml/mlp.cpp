#include "trainflow/ml/mlp.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "column_transform.hpp"
#include "mlp_network.hpp"
#include "model_support.hpp"
#include "omp_threads.hpp"
#include "random.hpp"

namespace trainflow::ml {

// Builds models for the fit functions and from_bytes (MlpModel's constructor is private).
struct MlpModelAccess {
  static MlpModel make(Task task, MlpActivation activation, std::size_t threads,
                       std::vector<std::string> features, std::vector<std::string> classes,
                       detail::MlpParameters params, MlpFitReport report) {
    MlpModel model;
    model.task_ = task;
    model.activation_ = activation;
    model.threads_ = threads;
    model.feature_names_ = std::move(features);
    model.classes_ = std::move(classes);
    model.sizes_ = std::move(params.sizes);
    model.weights_ = std::move(params.weights);
    model.biases_ = std::move(params.biases);
    model.report_ = std::move(report);
    return model;
  }
  static detail::MlpParameters parameters(const MlpModel& model) {
    return {model.sizes_, model.weights_, model.biases_};
  }
};

namespace {

constexpr std::string_view kMagic = "TFMLPNET";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "MlpModel";
constexpr std::size_t kMaxThreads = 1024;
// Widest hidden layer: keeps every buffer size (rows x width, width x width) far from overflow.
constexpr std::size_t kMaxWidth = std::size_t{1} << 24;
// Rows per oneDNN call when predicting or scoring validation rows.
constexpr std::size_t kInferenceBatch = 1024;
// Stream constants xored into the seed: the initialisation, the validation hold-out and the
// epoch shuffles draw from separate generators.
constexpr std::uint64_t kHoldOutStream = 0x6d6c702d686f6c64ULL;
constexpr std::uint64_t kShuffleStream = 0x6d6c702d73687566ULL;

// A double as printf's %g writes it ("0.001", "1e-08", "-1", "nan").
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Every bad option, each named with its value and the allowed range, joined by "; ".
Status check_options(const MlpOptions& o, const std::string& where) {
  std::vector<std::string> bad;
  const auto require = [&](bool good, std::string_view name, const std::string& value,
                           std::string_view range) {
    if (!good) bad.push_back(std::string(name) + " = " + value + " must be " + std::string(range));
  };
  for (std::size_t i = 0; i < o.hidden_layers.size(); ++i) {
    require(o.hidden_layers[i] >= 1 && o.hidden_layers[i] <= kMaxWidth,
            "hidden_layers[" + std::to_string(i) + "]", std::to_string(o.hidden_layers[i]),
            "in [1, 16777216]");
  }
  require(o.activation == MlpActivation::kRelu || o.activation == MlpActivation::kTanh,
          "activation", std::to_string(static_cast<int>(o.activation)), "kRelu or kTanh");
  require(o.solver == MlpSolver::kSgd || o.solver == MlpSolver::kAdam, "solver",
          std::to_string(static_cast<int>(o.solver)), "kSgd or kAdam");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, "learning_rate",
          number(o.learning_rate), "finite and > 0");
  require(o.momentum >= 0 && o.momentum <= 1, "momentum", number(o.momentum), "in [0, 1]");
  require(o.beta1 >= 0 && o.beta1 < 1, "beta1", number(o.beta1), "in [0, 1)");
  require(o.beta2 >= 0 && o.beta2 < 1, "beta2", number(o.beta2), "in [0, 1)");
  require(std::isfinite(o.epsilon) && o.epsilon > 0, "epsilon", number(o.epsilon),
          "finite and > 0");
  require(std::isfinite(o.l2) && o.l2 >= 0, "l2", number(o.l2), "finite and >= 0");
  require(o.batch_size >= 1, "batch_size", std::to_string(o.batch_size), ">= 1");
  require(o.max_epochs >= 1, "max_epochs", std::to_string(o.max_epochs), ">= 1");
  require(std::isfinite(o.tol) && o.tol >= 0, "tol", number(o.tol), "finite and >= 0");
  require(o.validation_fraction > 0 && o.validation_fraction < 1, "validation_fraction",
          number(o.validation_fraction), "in (0, 1)");
  require(o.n_iter_no_change >= 1, "n_iter_no_change", std::to_string(o.n_iter_no_change), ">= 1");
  require(o.threads >= 1 && o.threads <= kMaxThreads, "threads", std::to_string(o.threads),
          "in [1, 1024]");
  if (bad.empty()) return ok_status();
  std::string message = where + ": bad option" + (bad.size() > 1 ? "s: " : ": ");
  for (std::size_t i = 0; i < bad.size(); ++i) message += (i ? "; " : "") + bad[i];
  return invalid_argument(std::move(message));
}

// oneDNN and allocation failures as a Status.
Status engine_failure(const std::string& where, const dnnl::error& e) {
  if (e.status == dnnl_out_of_memory) {
    return Status(StatusCode::kResourceExhausted, where + ": out of memory in oneDNN: " + e.what());
  }
  return internal_error(where + ": oneDNN failed: " + e.what());
}
Status memory_failure(const std::string& where) {
  return Status(StatusCode::kResourceExhausted, where + ": out of memory");
}
// The Status of the exception being handled: call it only inside a catch block. A oneDNN error
// or exhausted memory (std::bad_alloc, std::length_error) becomes a Status; any other exception
// is rethrown, unchanged.
Status handled_failure(const std::string& where) {
  try {
    throw;
  } catch (const dnnl::error& e) {
    return engine_failure(where, e);
  } catch (const std::bad_alloc&) {
    return memory_failure(where);
  } catch (const std::length_error&) {
    return memory_failure(where);
  }
}

using FloatRows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows to train or score on: indices into a gathered feature matrix and its targets (labels
// for a classifier, values for a regressor).
struct Part {
  const FloatRows* x = nullptr;
  const std::vector<std::int32_t>* labels = nullptr;
  const std::vector<float>* values = nullptr;
  std::vector<std::uint32_t> rows;
};

// Accuracy (classifier) or R^2 (regressor) of the network's current parameters on `part`.
double score(detail::MlpNetwork& network, const Part& part, Task task) {
  const auto d = static_cast<std::size_t>(part.x->cols());
  const std::size_t n = part.rows.size();
  std::span<float> in = network.input();
  const std::size_t capacity = in.size() / d;
  std::size_t correct = 0;
  double mean = 0.0;
  if (task == Task::kRegression) {
    for (std::uint32_t r : part.rows) mean += static_cast<double>((*part.values)[r]);
    mean /= static_cast<double>(n);
  }
  double residual = 0.0;
  double total = 0.0;
  for (std::size_t begin = 0; begin < n; begin += capacity) {
    const std::size_t rows = std::min(capacity, n - begin);
    for (std::size_t i = 0; i < rows; ++i) {
      std::memcpy(in.data() + i * d, part.x->row(part.rows[begin + i]).data(), d * sizeof(float));
    }
    const std::span<const float> out = network.forward(rows);
    const std::size_t k = out.size() / rows;
    for (std::size_t i = 0; i < rows; ++i) {
      const std::uint32_t r = part.rows[begin + i];
      if (task == Task::kClassification) {
        const float* p = out.data() + i * k;
        const auto label = static_cast<std::int32_t>(std::max_element(p, p + k) - p);
        correct += label == (*part.labels)[r] ? 1 : 0;
      } else {
        const double y = (*part.values)[r];
        residual += (static_cast<double>(out[i]) - y) * (static_cast<double>(out[i]) - y);
        total += (y - mean) * (y - mean);
      }
    }
  }
  if (task == Task::kClassification) return static_cast<double>(correct) / static_cast<double>(n);
  // scikit-learn's r2_score: a constant target scores 1 when predicted exactly, else 0.
  if (total == 0.0) return residual == 0.0 ? 1.0 : 0.0;
  return 1.0 - residual / total;
}

// scikit-learn's SGD (with optional Nesterov momentum) and Adam updates, in place.
class Optimiser {
 public:
  Optimiser(const MlpOptions& options, const detail::MlpParameters& params) : o_(options) {
    for (std::size_t l = 0; l < params.weights.size(); ++l) {
      first_.emplace_back(params.weights[l].size());
      first_.emplace_back(params.biases[l].size());
      if (o_.solver == MlpSolver::kAdam) {
        second_.emplace_back(params.weights[l].size());
        second_.emplace_back(params.biases[l].size());
      }
    }
  }

  void step(detail::MlpParameters& params, const detail::MlpGradients& grads) {
    ++t_;
    for (std::size_t l = 0; l < params.weights.size(); ++l) {
      update(params.weights[l], grads.weights[l], 2 * l);
      update(params.biases[l], grads.biases[l], 2 * l + 1);
    }
  }

 private:
  void update(std::vector<float>& param, const std::vector<float>& grad, std::size_t slot) {
    std::vector<float>& m = first_[slot];
    if (o_.solver == MlpSolver::kSgd) {
      const auto lr = static_cast<float>(o_.learning_rate);
      const auto mu = static_cast<float>(o_.momentum);
      for (std::size_t i = 0; i < param.size(); ++i) {
        m[i] = mu * m[i] - lr * grad[i];
        param[i] += o_.nesterov ? mu * m[i] - lr * grad[i] : m[i];
      }
      return;
    }
    std::vector<float>& v = second_[slot];
    const double t = static_cast<double>(t_);
    const auto lr = static_cast<float>(o_.learning_rate * std::sqrt(1.0 - std::pow(o_.beta2, t)) /
                                       (1.0 - std::pow(o_.beta1, t)));
    const auto b1 = static_cast<float>(o_.beta1);
    const auto b2 = static_cast<float>(o_.beta2);
    const auto eps = static_cast<float>(o_.epsilon);
    for (std::size_t i = 0; i < param.size(); ++i) {
      m[i] = b1 * m[i] + (1.0F - b1) * grad[i];
      v[i] = b2 * v[i] + (1.0F - b2) * grad[i] * grad[i];
      param[i] -= lr * m[i] / (std::sqrt(v[i]) + eps);
    }
  }

  const MlpOptions& o_;
  std::uint64_t t_ = 0;
  std::vector<std::vector<float>> first_;   // SGD velocities or Adam first moments
  std::vector<std::vector<float>> second_;  // Adam second moments
};

// The validation rows held out of [0, n): round(fraction * rows) of each class (classifier) or
// of all rows (regressor), chosen by a seeded shuffle. Returns {train, validation}, each
// ascending.
std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>> hold_out(
    std::size_t n, const std::vector<std::int32_t>* labels, std::size_t classes, double fraction,
    std::uint64_t seed) {
  detail::Random random(seed ^ kHoldOutStream);
  std::vector<std::vector<std::uint32_t>> groups(labels ? classes : 1);
  for (std::size_t r = 0; r < n; ++r) {
    groups[labels ? static_cast<std::size_t>((*labels)[r]) : 0].push_back(
        static_cast<std::uint32_t>(r));
  }
  std::vector<bool> held(n, false);
  for (std::vector<std::uint32_t>& group : groups) {
    random.shuffle(std::span<std::uint32_t>(group));
    const auto take =
        static_cast<std::size_t>(std::floor(static_cast<double>(group.size()) * fraction + 0.5));
    for (std::size_t i = 0; i < take; ++i) held[group[i]] = true;
  }
  std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>> out;
  for (std::size_t r = 0; r < n; ++r) {
    (held[r] ? out.second : out.first).push_back(static_cast<std::uint32_t>(r));
  }
  return out;
}

Result<MlpModel> fit_mlp(const Dataset& train, const MlpOptions& options, const Dataset* validation,
                         Task task) {
  const std::string_view what =
      task == Task::kClassification ? "fit_mlp_classifier" : "fit_mlp_regressor";
  const std::string where(what);
  if (Status status = check_options(options, where); !status.ok()) return status;
  Result<std::vector<std::size_t>> features = detail::training_features(train, what);
  if (!features) return std::move(features).error();
  std::vector<std::string> names = detail::column_names(train, *features);

  // Targets.
  std::vector<std::string> classes;
  std::vector<std::int32_t> labels;
  std::vector<float> values;
  if (task == Task::kClassification) {
    Result<detail::TrainingClasses> learned = detail::training_classes(train, what);
    if (!learned) return std::move(learned).error();
    classes = std::move(learned->classes);
    labels = std::move(learned->labels);
  } else {
    const std::size_t target = *train.target_index();
    if (!train.column(target).is_numeric()) {
      return invalid_argument(where + ": target column '" + train.target_name() +
                              "' is categorical; use fit_mlp_classifier, or a numeric target");
    }
    if (Status status = detail::check_finite(train, target, what); !status.ok()) return status;
    values.resize(train.num_rows());
    for (std::size_t r = 0; r < values.size(); ++r) {
      values[r] = static_cast<float>(train.numeric(target, r));
    }
  }
  const FloatRows x = detail::feature_rows<float>(train, *features);
  const std::size_t n = train.num_rows();

  // Training and validation rows.
  Part fit_part{&x, &labels, &values, {}};
  Part check_part;
  FloatRows x_val;
  std::vector<std::int32_t> labels_val;
  std::vector<float> values_val;
  if (validation != nullptr) {
    const std::string vwhere = where + " (validation)";
    if (validation->num_rows() == 0) {
      return invalid_argument(vwhere + ": the validation dataset has no rows");
    }
    Result<std::vector<std::size_t>> cols = detail::bind_features(*validation, names, vwhere);
    if (!cols) return std::move(cols).error();
    if (task == Task::kClassification) {
      Result<std::vector<std::int32_t>> encoded = encode_labels(*validation, classes);
      if (!encoded) return std::move(encoded).error();
      labels_val = std::move(*encoded);
    } else {
      Result<std::vector<double>> targets = target_values(*validation);
      if (!targets) return std::move(targets).error();
      if (Status status = detail::check_finite(*validation, *validation->target_index(), vwhere);
          !status.ok()) {
        return status;
      }
      values_val.assign(targets->begin(), targets->end());
    }
    x_val = detail::feature_rows<float>(*validation, *cols);
    check_part = Part{&x_val, &labels_val, &values_val, {}};
    check_part.rows.resize(validation->num_rows());
    for (std::size_t r = 0; r < check_part.rows.size(); ++r) {
      check_part.rows[r] = static_cast<std::uint32_t>(r);
    }
  }
  if (validation == nullptr && options.early_stopping) {
    auto [kept, held] = hold_out(n, task == Task::kClassification ? &labels : nullptr,
                                 classes.size(), options.validation_fraction, options.seed);
    if (kept.empty() || held.empty()) {
      return invalid_argument(
          where + ": validation_fraction = " + number(options.validation_fraction) + " of " +
          std::to_string(n) + " rows holds out " + std::to_string(held.size()) +
          " rows for early stopping; it needs at least one row in training "
          "and validation (give more rows, change validation_fraction, or "
          "pass a validation dataset)");
    }
    fit_part.rows = std::move(kept);
    check_part = Part{&x, &labels, &values, std::move(held)};
  } else {
    fit_part.rows.resize(n);
    for (std::size_t r = 0; r < n; ++r) fit_part.rows[r] = static_cast<std::uint32_t>(r);
  }
  const bool scoring = !check_part.rows.empty();

  std::vector<std::size_t> sizes{static_cast<std::size_t>(x.cols())};
  sizes.insert(sizes.end(), options.hidden_layers.begin(), options.hidden_layers.end());
  sizes.push_back(task == Task::kClassification ? classes.size() : 1);
  const detail::MlpOutput output =
      task == Task::kClassification ? detail::MlpOutput::kSoftmax : detail::MlpOutput::kIdentity;

  const detail::OmpThreads threads(options.threads);
  try {
    detail::Random init(options.seed);
    detail::MlpParameters params = detail::glorot_parameters(sizes, init);
    detail::MlpParameters best;
    const std::size_t n_fit = fit_part.rows.size();
    const std::size_t batch = std::min(options.batch_size, n_fit);
    const std::size_t d = sizes.front();
    detail::MlpNetwork network(params, options.activation, output, /*training=*/true, batch);
    std::optional<detail::MlpNetwork> checker;
    if (scoring) {
      checker.emplace(params, options.activation, output, /*training=*/false,
                      std::min(kInferenceBatch, check_part.rows.size()));
    }
    Optimiser optimiser(options, params);
    detail::Random shuffler(options.seed ^ kShuffleStream);
    std::vector<std::uint32_t> order = fit_part.rows;
    std::vector<std::int32_t> batch_labels(task == Task::kClassification ? batch : 0);
    std::vector<float> batch_values(task == Task::kRegression ? batch : 0);

    MlpFitReport report;
    double best_loss = std::numeric_limits<double>::infinity();
    double best_score = -std::numeric_limits<double>::infinity();
    std::size_t no_improvement = 0;
    for (std::size_t epoch = 0; epoch < options.max_epochs; ++epoch) {
      if (options.shuffle) shuffler.shuffle(std::span<std::uint32_t>(order));
      double loss_sum = 0.0;
      for (std::size_t begin = 0; begin < n_fit; begin += batch) {
        const std::size_t rows = std::min(batch, n_fit - begin);
        float* in = network.input().data();
        for (std::size_t i = 0; i < rows; ++i) {
          const std::uint32_t r = order[begin + i];
          std::memcpy(in + i * d, x.row(r).data(), d * sizeof(float));
          if (task == Task::kClassification) {
            batch_labels[i] = labels[r];
          } else {
            batch_values[i] = values[r];
          }
        }
        (void)network.forward(rows);
        const double loss = network.backward(
            rows, std::span(batch_labels).first(task == Task::kClassification ? rows : 0),
            std::span(batch_values).first(task == Task::kRegression ? rows : 0), options.l2);
        loss_sum += loss * static_cast<double>(rows);
        optimiser.step(params, network.gradients());
      }
      const double epoch_loss = loss_sum / static_cast<double>(n_fit);
      report.epochs = epoch + 1;
      report.loss_curve.push_back(epoch_loss);
      report.final_loss = epoch_loss;
      if (!std::isfinite(epoch_loss)) {
        return invalid_argument(where + ": the training loss is not finite after epoch " +
                                std::to_string(epoch + 1) +
                                "; the fit diverged: lower learning_rate or scale the features");
      }
      if (scoring) {
        const double s = score(*checker, check_part, task);
        report.validation_scores.push_back(s);
        if (!options.early_stopping) {
          best_score = std::max(best_score, s);
        } else {
          no_improvement = s < best_score + options.tol ? no_improvement + 1 : 0;
          if (s > best_score) {
            best_score = s;
            best = params;
          }
        }
      }
      if (options.on_epoch) {
        options.on_epoch(
            epoch, epoch_loss,
            scoring ? std::optional<double>(report.validation_scores.back()) : std::nullopt);
      }
      if (!options.early_stopping) {
        no_improvement = epoch_loss > best_loss - options.tol ? no_improvement + 1 : 0;
        best_loss = std::min(best_loss, epoch_loss);
      }
      if (no_improvement > options.n_iter_no_change) {
        report.converged = true;
        report.stopped_early = options.early_stopping;
        break;
      }
    }
    if (scoring) report.best_validation_score = best_score;
    // Without any improving epoch (every score NaN) the last parameters are kept.
    if (options.early_stopping && !best.sizes.empty()) params = std::move(best);
    return MlpModelAccess::make(task, options.activation, options.threads, std::move(names),
                                std::move(classes), std::move(params), std::move(report));
  } catch (...) {
    return handled_failure(where);
  }
}

}  // namespace

std::string_view to_string(MlpActivation activation) noexcept {
  return activation == MlpActivation::kRelu ? "relu" : "tanh";
}

std::string_view to_string(MlpSolver solver) noexcept {
  return solver == MlpSolver::kSgd ? "sgd" : "adam";
}

std::string_view MlpModel::kind() const noexcept {
  return task_ == Task::kClassification ? "mlp_classifier" : "mlp_regressor";
}

Result<Predictions> MlpModel::predict(const Dataset& data) const {
  const std::string where = "MlpModel::predict";
  Result<std::vector<std::size_t>> cols = detail::bind_features(data, feature_names_, where);
  if (!cols) return std::move(cols).error();
  const std::size_t n = data.num_rows();
  const std::size_t k = sizes_.back();
  Predictions out;
  out.task = task_;
  if (task_ == Task::kClassification) {
    out.classes = classes_;
    out.labels.resize(n);
    out.probabilities.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(k));
  } else {
    out.values.resize(n);
  }
  if (n == 0) return out;
  const FloatRows x = detail::feature_rows<float>(data, *cols);
  const std::size_t d = sizes_.front();
  const detail::OmpThreads threads(threads_);
  try {
    const detail::MlpParameters params = MlpModelAccess::parameters(*this);
    detail::MlpNetwork network(
        params, activation_,
        task_ == Task::kClassification ? detail::MlpOutput::kSoftmax : detail::MlpOutput::kIdentity,
        /*training=*/false, std::min(kInferenceBatch, n));
    for (std::size_t begin = 0; begin < n; begin += kInferenceBatch) {
      const std::size_t rows = std::min(kInferenceBatch, n - begin);
      std::memcpy(network.input().data(), x.row(static_cast<Eigen::Index>(begin)).data(),
                  rows * d * sizeof(float));
      const std::span<const float> y = network.forward(rows);
      for (std::size_t i = 0; i < rows; ++i) {
        const std::size_t r = begin + i;
        if (task_ == Task::kRegression) {
          out.values[r] = static_cast<double>(y[i]);
          continue;
        }
        const float* p = y.data() + i * k;
        out.labels[r] = static_cast<std::int32_t>(std::max_element(p, p + k) - p);
        for (std::size_t c = 0; c < k; ++c) {
          out.probabilities(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = p[c];
        }
      }
    }
  } catch (...) {
    return handled_failure(where);
  }
  return out;
}

std::string MlpModel::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u8(static_cast<std::uint8_t>(task_));
  writer.u8(static_cast<std::uint8_t>(activation_));
  writer.u32(static_cast<std::uint32_t>(threads_));
  writer.u32(static_cast<std::uint32_t>(feature_names_.size()));
  for (const std::string& name : feature_names_) writer.str(name);
  writer.u32(static_cast<std::uint32_t>(classes_.size()));
  for (const std::string& name : classes_) writer.str(name);
  writer.u32(static_cast<std::uint32_t>(sizes_.size()));
  for (std::size_t size : sizes_) writer.u64(size);
  const auto floats = [&](const std::vector<float>& v) {
    for (float f : v) writer.u32(std::bit_cast<std::uint32_t>(f));
  };
  for (std::size_t l = 0; l + 1 < sizes_.size(); ++l) {
    floats(weights_[l]);
    floats(biases_[l]);
  }
  writer.u64(report_.epochs);
  writer.u32(static_cast<std::uint32_t>(report_.loss_curve.size()));
  for (double v : report_.loss_curve) writer.f64(v);
  writer.f64(report_.final_loss);
  writer.u32(static_cast<std::uint32_t>(report_.validation_scores.size()));
  for (double v : report_.validation_scores) writer.f64(v);
  writer.u8(report_.best_validation_score ? 1 : 0);
  writer.f64(report_.best_validation_score.value_or(0.0));
  writer.u8(
      static_cast<std::uint8_t>((report_.stopped_early ? 1U : 0U) | (report_.converged ? 2U : 0U)));
  return std::move(writer).finish();
}

Result<MlpModel> MlpModel::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  const std::uint8_t task = reader.u8();
  const std::uint8_t activation = reader.u8();
  const std::uint32_t threads = reader.u32();
  if (task > static_cast<std::uint8_t>(Task::kClassification) ||
      activation > static_cast<std::uint8_t>(MlpActivation::kTanh) || threads < 1 ||
      threads > kMaxThreads) {
    reader.fail();
  }
  // Names take at least 4 bytes each: bound every count by the bytes left before allocating.
  const auto read_names = [&] {
    std::vector<std::string> names;
    const std::uint32_t count = reader.u32();
    if (count > reader.remaining() / 4) reader.fail();
    std::unordered_set<std::string> seen;
    for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) {
      names.push_back(reader.str());
      if (!seen.insert(names.back()).second) reader.fail();
    }
    return names;
  };
  std::vector<std::string> features = read_names();
  std::vector<std::string> classes = read_names();
  const bool classifier = task == static_cast<std::uint8_t>(Task::kClassification);
  if (features.empty() || (classifier ? classes.size() < 2 : !classes.empty())) reader.fail();

  detail::MlpParameters params;
  const std::uint32_t layers = reader.u32();
  if (layers < 2 || layers > reader.remaining() / 8) reader.fail();
  for (std::uint32_t i = 0; i < layers && !reader.failed(); ++i) {
    const std::uint64_t size = reader.u64();
    if (size < 1 || size > reader.remaining()) reader.fail();
    params.sizes.push_back(static_cast<std::size_t>(size));
  }
  if (!reader.failed() && (params.sizes.front() != features.size() ||
                           params.sizes.back() != (classifier ? classes.size() : 1))) {
    reader.fail();
  }
  const auto read_floats = [&](std::size_t count) {
    std::vector<float> v;
    if (reader.failed() || count > reader.remaining() / 4) {
      reader.fail();
      return v;
    }
    v.resize(count);
    for (float& f : v) {
      f = std::bit_cast<float>(reader.u32());
      if (!std::isfinite(f)) reader.fail();
    }
    return v;
  };
  for (std::size_t l = 0; l + 1 < params.sizes.size() && !reader.failed(); ++l) {
    // Each size is at most the bytes left, so the product cannot overflow 64 bits.
    params.weights.push_back(read_floats(params.sizes[l + 1] * params.sizes[l]));
    params.biases.push_back(read_floats(params.sizes[l + 1]));
  }

  MlpFitReport report;
  report.epochs = static_cast<std::size_t>(reader.u64());
  const auto read_doubles = [&](std::vector<double>& out) {
    const std::uint32_t count = reader.u32();
    if (count > reader.remaining() / 8) {
      reader.fail();
      return;
    }
    out.resize(count);
    for (double& v : out) v = reader.f64();
  };
  read_doubles(report.loss_curve);
  report.final_loss = reader.f64();
  read_doubles(report.validation_scores);
  const std::uint8_t has_best = reader.u8();
  const double best = reader.f64();
  const std::uint8_t flags = reader.u8();
  if (has_best > 1 || flags > 3 || report.loss_curve.size() != report.epochs ||
      (has_best == 0 && best != 0.0) || (has_best == 1) != !report.validation_scores.empty()) {
    reader.fail();
  }
  if (has_best == 1) report.best_validation_score = best;
  report.stopped_early = (flags & 1U) != 0;
  report.converged = (flags & 2U) != 0;
  if (Status status = reader.finish(kName); !status.ok()) return status;
  return MlpModelAccess::make(classifier ? Task::kClassification : Task::kRegression,
                              static_cast<MlpActivation>(activation), threads, std::move(features),
                              std::move(classes), std::move(params), std::move(report));
}

Result<MlpModel> fit_mlp_classifier(const Dataset& train, const MlpOptions& options,
                                    const Dataset* validation) {
  return fit_mlp(train, options, validation, Task::kClassification);
}

Result<MlpModel> fit_mlp_regressor(const Dataset& train, const MlpOptions& options,
                                   const Dataset* validation) {
  return fit_mlp(train, options, validation, Task::kRegression);
}

}  // namespace trainflow::ml
