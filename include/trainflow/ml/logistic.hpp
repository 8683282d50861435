// Logistic regression: binary and multinomial, L2-penalised, fitted by L-BFGS or Newton's method,
// and the LogisticModel they return.
//
// fit_logistic_regression() minimises exactly the objective of scikit-learn's
// LogisticRegression(penalty="l2", C=1/l2) (multi_class "auto": binary for 2 classes,
// multinomial for more):
//
//   f(W, b) = sum_i -log p(y_i | x_i) + (l2 / 2) * ||W||_F^2       (b is not penalised)
//
// Binary (K = 2 classes): one weight vector w and intercept b, p(class 1 | x) = sigmoid(w.x + b).
// Multinomial (K > 2): K weight vectors and intercepts, p(class c | x) = softmax_c(W x + b), the
// over-parameterised form whose minimiser the penalty makes unique (the intercepts are reported
// with mean 0, which fixes their free common shift without changing any probability).
//
//   Result<LogisticModel> model = fit_logistic_regression(train, {.l2 = 1.0, .threads = 4});
//   if (!model) std::cerr << model.error().message();
//   Result<Predictions> p = model->predict(test);   // labels and probabilities
//   if (!model->fit_report().converged) std::cerr << "stopped at max_iter\n";
//
// fit_logistic_regression is pure and thread-safe; its result does not depend on `threads`, bit
// for bit. A LogisticModel is immutable: safe to share by threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/model.hpp"

namespace trainflow::ml {

struct LogisticRegressionOptions {
  enum class Solver : std::uint8_t {
    // Limited-memory BFGS (history 10) with a strong-Wolfe line search: O(P) memory for P
    // parameters and two passes over the data per evaluation; the choice for many features or
    // classes.
    kLbfgs,
    // Newton's method on the exact Hessian (LDLT), damped by a backtracking line search: few
    // iterations, but O(n P^2) time and O(P^2) memory per iteration, so only for
    // P = (K or 1) * (d + 1) <= 2048 parameters.
    kNewton,
  };

  // The L2 penalty strength, finite and > 0; scikit-learn's C is 1 / l2. Default 1.0. Larger
  // values shrink the weights and make the problem better conditioned (faster convergence);
  // smaller ones fit the training data more closely.
  double l2 = 1.0;
  // The most solver iterations (L-BFGS steps or Newton steps), >= 1. Default 100 (scikit-learn's
  // default). When it is reached the model is returned with fit_report().converged == false.
  std::size_t max_iter = 100;
  // Convergence: the fit stops once max_j |df/dtheta_j| <= tol over every parameter (weights and
  // intercepts), for f above (a sum over rows, not a mean). Finite and > 0; default 1e-4. This is
  // the test scikit-learn 1.2's lbfgs solver hands to scipy's L-BFGS-B as gtol=tol (its "pgtol":
  // the largest absolute component of the projected gradient, which without bounds is the
  // gradient, of the same summed objective C-scaled away: scikit-learn 1.2 minimises
  // sum loss + ||W||^2 / (2C), which is f). scipy also stops when f stops decreasing by a
  // relative 64 * DBL_EPSILON, which this implementation does not; it instead stops, unconverged,
  // when no step decreases f any more. Newer scikit-learn versions that scale the loss by 1/n
  // need tol / n for the same test.
  double tol = 1e-4;
  // Default kLbfgs.
  Solver solver = Solver::kLbfgs;
  // Learn the (unpenalised) intercepts. Default true; false fixes them at 0.
  bool fit_intercept = true;
  // Threads computing the objective, gradient and Hessian over blocks of 4096 rows, the caller
  // being one of them; >= 1. Default 1. The result is bit-identical at any thread count.
  unsigned threads = 1;
  // Called on the fitting thread with the objective f at the starting point (iteration 0) and
  // after each solver iteration (1, 2, ...). For live progress (the logistic_regression stage
  // reports it as the metric `loss`); it does not change the fit. Must not throw. Default none.
  std::function<void(std::size_t iteration, double objective)> on_iteration{};
};

// What the solver did.
struct LogisticFitReport {
  LogisticRegressionOptions::Solver solver = LogisticRegressionOptions::Solver::kLbfgs;
  // True when max |gradient| <= tol was reached; false when max_iter was reached first, or when
  // the line search could not decrease the objective any further (round-off: the gradient is
  // then usually tiny but above tol).
  bool converged = false;
  // Solver iterations taken (0 when the starting point, all parameters 0, already met tol).
  std::size_t iterations = 0;
  // Evaluations of the objective and gradient, line searches included.
  std::size_t evaluations = 0;
  // f at the returned parameters, and the largest absolute component of its gradient there.
  double objective = 0.0;
  double gradient_max_norm = 0.0;
};

// A fitted logistic regression model over named numeric features and named classes.
class LogisticModel final : public Model {
 public:
  // From explicit parameters: `coefficients` is rows x feature_names.size() row-major, where rows
  // is 1 for two classes (the weights of class 1 against class 0) and classes.size() otherwise;
  // one intercept per row. REQUIRES (asserted in debug builds): at least 2 classes, these sizes,
  // distinct feature names and distinct class names.
  LogisticModel(std::vector<std::string> feature_names, std::vector<std::string> classes,
                std::vector<double> coefficients, std::vector<double> intercepts,
                LogisticFitReport report = {});

  // Model: kind "logistic_regression", Task::kClassification. predict() gives, per row, the
  // class probabilities (binary: [1 - p, p] with p = sigmoid(w.x + b); multinomial: the softmax
  // of the K scores, computed as exp(score - log-sum-exp)) and the most probable class, the
  // lowest index on an exact tie. Feature columns are found by name. Fails as Model::predict.
  std::string_view kind() const noexcept override { return "logistic_regression"; }
  Task task() const noexcept override { return Task::kClassification; }
  const std::vector<std::string>& feature_names() const noexcept override { return feature_names_; }
  const std::vector<std::string>& classes() const noexcept override { return classes_; }
  Result<Predictions> predict(const Dataset& data) const override;

  // 1 for binary models, classes().size() for multinomial ones.
  std::size_t coefficient_rows() const noexcept { return intercepts_.size(); }
  // coefficient_rows() x feature_names().size(), row-major: scikit-learn's coef_.
  const std::vector<double>& coefficients() const noexcept { return coefficients_; }
  // One per coefficient row (all 0 when fitted without intercept): scikit-learn's intercept_.
  const std::vector<double>& intercepts() const noexcept { return intercepts_; }
  const LogisticFitReport& fit_report() const noexcept { return report_; }

  // Little-endian bytes: magic "TFLOGIST", version, the feature names, the class names, the
  // coefficients and intercepts (the doubles' bits), the fit report, then XXH3-64 of all of it.
  std::string to_bytes() const override;
  // Reads to_bytes()'s output; predictions of the result equal the original's bit for bit.
  // Fails with kInvalidArgument saying what is wrong (bad magic, unsupported version, checksum
  // mismatch, truncated or malformed payload: fewer than 2 classes, repeated names, non-finite
  // parameters); never crashes, and allocates no more than the input's size suggests.
  static Result<LogisticModel> from_bytes(std::string_view bytes);

 private:
  std::vector<std::string> feature_names_;
  std::vector<std::string> classes_;
  std::vector<double> coefficients_;
  std::vector<double> intercepts_;
  LogisticFitReport report_;
};

// Fits a logistic regression of the target of `train` on every numeric feature column (every
// numeric column but the target, in dataset order), from all parameters 0. Classes are learned
// as model.hpp says (at least 2). Time per evaluation O(n d K); L-BFGS memory O(n d) for the
// gathered rows plus O(10 K d).
//
// Fails with kInvalidArgument when: l2 is not finite or <= 0; tol is not finite or <= 0;
// max_iter or threads is 0; `train` has no target, no rows, a categorical feature (named, with a
// hint to encode it), no numeric feature, a missing or infinite feature value (column and row
// named, with a hint to impute), a missing target, or fewer than 2 classes; kNewton is asked for
// more than 2048 parameters (use kLbfgs); the objective becomes non-finite (scale the features).
Result<LogisticModel> fit_logistic_regression(const Dataset& train,
                                              const LogisticRegressionOptions& options = {});

}  // namespace trainflow::ml
