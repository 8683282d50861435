// Multi-layer perceptrons: a classifier (softmax output, cross-entropy loss) and a regressor
// (identity output, squared loss) trained by minibatch SGD or Adam on oneDNN's CPU primitives,
// and the MlpModel they return. Options and training follow scikit-learn's MLPClassifier and
// MLPRegressor (names, defaults, loss scaling, stopping rules); the differences are listed at
// MlpOptions.
//
//   Result<MlpModel> model = fit_mlp_classifier(train, {.hidden_layers = {64}, .threads = 2});
//   if (!model) std::cerr << model.error().message();
//   Result<Predictions> p = model->predict(test);        // labels and probabilities
//   std::cout << model->report().epochs << " epochs\n";
//
// Computation is float32 throughout. Results depend only on the data, the options and the
// number of threads: at a fixed thread count a fit is deterministic (bit-identical model bytes
// for the same seed); at another thread count oneDNN may sum in another order, and the
// parameters then differ by rounding (see docs/design.md, "MLP", for measured sizes).
//
// The fit functions are pure and thread-safe: each creates its own oneDNN engine and runs every
// oneDNN kernel on exactly `threads` OpenMP threads of the calling thread (its OpenMP thread
// count is set for the fit and restored afterwards). An MlpModel is immutable: safe to share by
// threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/model.hpp"

namespace trainflow::ml {

enum class MlpActivation : std::uint8_t { kRelu, kTanh };
enum class MlpSolver : std::uint8_t { kSgd, kAdam };

// "relu", "tanh"; "sgd", "adam".
std::string_view to_string(MlpActivation activation) noexcept;
std::string_view to_string(MlpSolver solver) noexcept;

// Differences from scikit-learn: a binary classifier has two softmax outputs (scikit-learn: one
// logistic unit), which is the same model over-parameterised; only the constant learning rate
// schedule exists; the training loss and validation score are computed in float32.
struct MlpOptions {
  // Widths of the hidden layers, input side first, each in [1, 2^24]. Default {100}. Empty: no
  // hidden layer (multinomial logistic / linear regression trained by the solver). Wider and
  // deeper nets fit more but cost more per epoch and overfit sooner.
  std::vector<std::size_t> hidden_layers{100};
  // Hidden activation. Default kRelu (fast, the usual choice); kTanh is smooth.
  MlpActivation activation = MlpActivation::kRelu;
  // Default kAdam, which works with little tuning; kSgd with momentum can generalise slightly
  // better with a tuned learning_rate.
  MlpSolver solver = MlpSolver::kAdam;
  // Step size, finite and > 0. Default 1e-3 (scikit-learn's learning_rate_init).
  double learning_rate = 1e-3;
  // kSgd: momentum in [0, 1]. Default 0.9. 0 is plain SGD.
  double momentum = 0.9;
  // kSgd: Nesterov's momentum (scikit-learn's nesterovs_momentum). Default true.
  bool nesterov = true;
  // kAdam: decay rates of the first and second moment estimates, each in [0, 1), and the
  // denominator's epsilon, finite and > 0. Defaults 0.9, 0.999, 1e-8.
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  // L2 penalty (scikit-learn's alpha), finite and >= 0, on the weights, not the biases: each
  // batch of b rows adds (l2 / (2 b)) * sum of squared weights to its mean loss. Default 1e-4.
  // Larger values shrink the weights, trading fit for less overfitting.
  double l2 = 1e-4;
  // Rows per minibatch, >= 1; min(batch_size, training rows) is used. Default 200. Larger
  // batches use threads better per step but take fewer steps per epoch.
  std::size_t batch_size = 200;
  // Maximum number of epochs (passes over the training rows), >= 1. Default 200.
  std::size_t max_epochs = 200;
  // Improvement threshold, finite and >= 0. Default 1e-4. Training stops when for more than
  // n_iter_no_change consecutive epochs the training loss did not fall below (best loss - tol),
  // or, with early_stopping, the validation score did not rise above (best score + tol).
  double tol = 1e-4;
  // Default false. true: score the validation rows (`validation` of the fit call, or else
  // validation_fraction of the training rows, held out) after every epoch, stop on the rule
  // above, and return the parameters of the best-scoring epoch. Scores are accuracy for a
  // classifier and R^2 for a regressor.
  bool early_stopping = false;
  // early_stopping without a `validation` dataset: the share of the training rows held out, in
  // (0, 1). Default 0.1. The rows are chosen by a shuffle seeded from `seed`, stratified by class
  // for a classifier (each class gives round(rows of class * fraction) rows).
  double validation_fraction = 0.1;
  // Epochs without improvement (see tol) tolerated before stopping, >= 1. Default 10.
  std::size_t n_iter_no_change = 10;
  // Default true: visit the training rows in a new seeded random order every epoch. false: in
  // dataset order.
  bool shuffle = true;
  // Seeds the weight initialisation, the validation hold-out and the shuffles. Default 0.
  std::uint64_t seed = 0;
  // OpenMP threads for every oneDNN kernel of the fit, 1 <= threads <= 1024. Default 1. The
  // model keeps it for predict(). More threads help for wide layers and large batches.
  std::size_t threads = 1;
  // Called on the fitting thread after every epoch with its index (from 0), its mean training
  // loss and, when there are validation rows, its validation score: the values appended to
  // MlpFitReport's curves. For live progress (the `mlp_*` stages report them as metrics); it
  // does not change the fit. Must not throw. Default none.
  std::function<void(std::size_t epoch, double loss, std::optional<double> validation_score)>
      on_epoch{};
};

// How a fit went.
struct MlpFitReport {
  // Epochs run (including any after the best one, when early stopping).
  std::size_t epochs = 0;
  // Mean training loss of each epoch (data loss plus the L2 term, averaged over the rows as
  // scikit-learn's loss_curve_); final_loss is its last value.
  std::vector<double> loss_curve{};
  double final_loss = 0.0;
  // The validation score after each epoch, when there were validation rows (early_stopping, or
  // a `validation` dataset given to the fit); empty otherwise.
  std::vector<double> validation_scores{};
  // The largest of validation_scores; std::nullopt without validation rows.
  std::optional<double> best_validation_score{};
  // True when early_stopping ended the fit because the validation score stopped improving
  // (the model then holds the parameters of the best epoch).
  bool stopped_early = false;
  // True when the fit stopped on the tol rule before max_epochs (training loss, or validation
  // score when early stopping); false when it ran all max_epochs.
  bool converged = false;
};

// A fitted perceptron. Layer l maps layer_sizes()[l] inputs to layer_sizes()[l + 1] outputs:
// out = act(W_l in + b_l), act the hidden activation for all but the last layer, softmax
// (classifier) or identity (regressor) for the last.
class MlpModel final : public Model {
 public:
  // Model: kind "mlp_classifier" (Task::kClassification, classes() as learned, see model.hpp)
  // or "mlp_regressor" (Task::kRegression, no classes).
  std::string_view kind() const noexcept override;
  Task task() const noexcept override { return task_; }
  const std::vector<std::string>& feature_names() const noexcept override { return feature_names_; }
  const std::vector<std::string>& classes() const noexcept override { return classes_; }
  // Runs the network in batches on threads() OpenMP threads. Classifier: probabilities are the
  // softmax outputs (float32 values widened to double), labels their argmax (lowest index on a
  // tie). Regressor: values. Fails as Model::predict, or with kResourceExhausted/kInternal
  // when oneDNN fails (out of memory).
  Result<Predictions> predict(const Dataset& data) const override;

  MlpActivation activation() const noexcept { return activation_; }
  // Inputs, hidden widths, outputs: {features, hidden_layers..., classes or 1}.
  const std::vector<std::size_t>& layer_sizes() const noexcept { return sizes_; }
  // Layer l's weights, layer_sizes()[l + 1] x layer_sizes()[l] row-major (row o is output o),
  // and its biases. REQUIRES: l + 1 < layer_sizes().size().
  std::span<const float> weights(std::size_t l) const noexcept { return weights_[l]; }
  std::span<const float> biases(std::size_t l) const noexcept { return biases_[l]; }
  // The OpenMP threads predict() uses (MlpOptions::threads of the fit).
  std::size_t threads() const noexcept { return threads_; }
  const MlpFitReport& report() const noexcept { return report_; }

  // Little-endian bytes: magic "TFMLPNET", version, task, activation, threads, feature names,
  // class names, layer sizes, every weight and bias (float bits), the fit report, then XXH3-64
  // of all of it.
  std::string to_bytes() const override;
  // Reads to_bytes()'s output; predictions of the result equal the original's bit for bit.
  // Fails with kInvalidArgument saying what is wrong (bad magic, unsupported version, checksum
  // mismatch, truncated or malformed payload: layer sizes that do not match the features and
  // classes, a repeated name, a non-finite parameter); never crashes, and allocates no more
  // than the input's size suggests.
  static Result<MlpModel> from_bytes(std::string_view bytes);

 private:
  friend struct MlpModelAccess;
  MlpModel() = default;

  Task task_ = Task::kClassification;
  MlpActivation activation_ = MlpActivation::kRelu;
  std::size_t threads_ = 1;
  std::vector<std::string> feature_names_;
  std::vector<std::string> classes_;
  std::vector<std::size_t> sizes_;
  std::vector<std::vector<float>> weights_;
  std::vector<std::vector<float>> biases_;
  MlpFitReport report_;
};

// Fits a classifier on every numeric feature column of `train` (in dataset order) against its
// target (categorical, or numeric class values; see model.hpp for the classes). Minimises the
// mean cross-entropy of the softmax outputs plus the L2 term over minibatches. Initialisation is
// scikit-learn's Glorot uniform: layer l's weights and biases ~ U(-s, s), s = sqrt(6 / (fan_in +
// fan_out)), drawn from trainflow's seeded generator. `validation`, if given, is scored after
// every epoch (its feature columns found by name, its target matched to the classes by name) and
// is what early_stopping uses instead of holding out training rows. Time per epoch
// O(rows * sum of layer products); memory O(rows * features) floats for the gathered features
// plus O(batch_size * widest layer).
//
// Fails with kInvalidArgument: for bad options (every bad option named, all at once); when
// `train` has no target, no rows, a categorical feature column (named; encode it first), a
// missing or infinite feature value (column and row named; impute first), a missing target
// value, or fewer than two classes; when `validation` lacks a feature column (kNotFound), has a
// categorical, missing or infinite feature value, no rows, or a target value that is not a class
// of `train`; when early_stopping holds out no row or every row (too few rows for
// validation_fraction). Fails with kResourceExhausted or kInternal when oneDNN fails.
Result<MlpModel> fit_mlp_classifier(const Dataset& train, const MlpOptions& options = {},
                                    const Dataset* validation = nullptr);

// As fit_mlp_classifier, for a numeric target: one identity output, loss = mean over the rows of
// (prediction - target)^2 / 2 plus the L2 term (scikit-learn's halved squared error). Fails
// also when the target is categorical, or a target value is missing or infinite (row named).
Result<MlpModel> fit_mlp_regressor(const Dataset& train, const MlpOptions& options = {},
                                   const Dataset* validation = nullptr);

}  // namespace trainflow::ml
