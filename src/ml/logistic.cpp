#include "trainflow/ml/logistic.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "column_transform.hpp"
#include "model_support.hpp"
#include "parallel.hpp"

namespace trainflow::ml {
namespace {

using Solver = LogisticRegressionOptions::Solver;
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;

constexpr std::string_view kMagic = "TFLOGIST";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "LogisticModel";
constexpr std::string_view kWhat = "fit_logistic_regression";

// Rows per block of the objective, gradient and Hessian sums: fixed, so the sums do not depend on
// the thread count.
constexpr std::size_t kBlock = 4096;
constexpr std::size_t kMaxNewtonParams = 2048;
constexpr std::size_t kHistory = 10;
// Near the optimum the decrease of f along a step falls below the round-off of f itself (a sum
// of n terms); a step whose f is within this relative tolerance of f(x) counts as "not worse"
// and is then judged by its slope (L-BFGS) or gradient (Newton) alone, as in Hager and Zhang's
// approximate Wolfe conditions.
constexpr double kFlat = 1e-11;

// log(1 + exp(z)) without overflow or cancellation.
double softplus(double z) {
  return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z)));
}

double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

double max_abs(const Vector& v) {
  return v.size() == 0 ? 0.0 : v.cwiseAbs().maxCoeff();
}

// The training problem: rows x (n x d), labels y in [0, K), and the parameter layout
// theta = [W (R x d, row-major), b (R, when fitting intercepts)] with R = 1 (binary) or K.
class Problem {
 public:
  Problem(Matrix x, std::vector<std::int32_t> y, std::size_t classes, double l2, bool intercept,
          unsigned threads)
      : x_(std::move(x)),
        y_(std::move(y)),
        r_(classes == 2 ? 1 : classes),
        d_(static_cast<std::size_t>(x_.cols())),
        l2_(l2),
        intercept_(intercept),
        threads_(threads) {}

  std::size_t rows() const { return r_; }
  std::size_t features() const { return d_; }
  bool intercept() const { return intercept_; }
  std::size_t params() const { return r_ * d_ + (intercept_ ? r_ : 0); }

  // f(theta); the gradient into *grad.
  double objective(const Vector& theta, Vector* grad) const {
    const std::size_t p = params();
    double loss = 0;
    grad->setZero(static_cast<Eigen::Index>(p));
    for_each_block(
        p + 1,
        [&](std::size_t begin, std::size_t end, double* out) {
          block_gradient(theta, begin, end, out);
        },
        [&](const double* partial) {
          *grad += Eigen::Map<const Vector>(partial, static_cast<Eigen::Index>(p));
          loss += partial[p];
        });
    const auto weights = static_cast<Eigen::Index>(r_ * d_);
    loss += 0.5 * l2_ * theta.head(weights).squaredNorm();
    grad->head(weights) += l2_ * theta.head(weights);
    return loss;
  }

  // The Hessian of f at theta.
  Matrix hessian(const Vector& theta) const {
    const std::size_t p = params();
    Matrix h = Matrix::Zero(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
    for_each_block(
        p * p,
        [&](std::size_t begin, std::size_t end, double* out) {
          block_hessian(theta, begin, end, out);
        },
        [&](const double* partial) {
          h += Eigen::Map<const Matrix>(partial, static_cast<Eigen::Index>(p),
                                        static_cast<Eigen::Index>(p));
        });
    for (std::size_t j = 0; j < r_ * d_; ++j) {
      h(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(j)) += l2_;
    }
    return h;
  }

 private:
  // Runs compute(begin, end, partial) for every block of kBlock rows, `threads_` blocks at a
  // time, each into its own zeroed array of `size` doubles, and passes the partials to
  // add(partial) in block order, so the sums are the same at any thread count.
  template <class Compute, class Add>
  void for_each_block(std::size_t size, const Compute& compute, const Add& add) const {
    const std::size_t n = static_cast<std::size_t>(x_.rows());
    const std::size_t blocks = (n + kBlock - 1) / kBlock;
    const std::size_t wave = std::max<std::size_t>(1, std::min<std::size_t>(threads_, blocks));
    std::vector<std::vector<double>> partials(wave, std::vector<double>(size));
    for (std::size_t first = 0; first < blocks; first += wave) {
      const std::size_t count = std::min(wave, blocks - first);
      detail::run_tasks(count, [&](std::size_t t) {
        std::fill(partials[t].begin(), partials[t].end(), 0.0);
        const std::size_t begin = (first + t) * kBlock;
        compute(begin, std::min(n, begin + kBlock), partials[t].data());
      });
      for (std::size_t t = 0; t < count; ++t) add(partials[t].data());
    }
  }

  // The scores x_i . w_c + b_c of rows [begin, end): (end - begin) x R.
  Matrix scores(const Vector& theta, std::size_t begin, std::size_t end) const {
    const auto m = static_cast<Eigen::Index>(end - begin);
    const Eigen::Map<const Matrix> w(theta.data(), static_cast<Eigen::Index>(r_),
                                     static_cast<Eigen::Index>(d_));
    Matrix z = x_.middleRows(static_cast<Eigen::Index>(begin), m) * w.transpose();
    if (intercept_) {
      const Eigen::Map<const Eigen::RowVectorXd> b(theta.data() + r_ * d_,
                                                   static_cast<Eigen::Index>(r_));
      z.rowwise() += b;
    }
    return z;
  }

  // Turns scores into dloss/dscore: p - onehot(y) per row; returns the summed loss.
  double residuals(Matrix& z, std::size_t begin) const {
    double loss = 0;
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const auto label = static_cast<Eigen::Index>(y_[begin + static_cast<std::size_t>(i)]);
      if (r_ == 1) {
        const double s = z(i, 0);
        loss += softplus(s) - (label == 1 ? s : 0.0);
        z(i, 0) = sigmoid(s) - (label == 1 ? 1.0 : 0.0);
        continue;
      }
      const double top = z.row(i).maxCoeff();
      double sum = 0;
      for (Eigen::Index c = 0; c < z.cols(); ++c) sum += std::exp(z(i, c) - top);
      const double lse = top + std::log(sum);
      loss += lse - z(i, label);
      for (Eigen::Index c = 0; c < z.cols(); ++c) z(i, c) = std::exp(z(i, c) - lse);
      z(i, label) -= 1.0;
    }
    return loss;
  }

  void block_gradient(const Vector& theta, std::size_t begin, std::size_t end, double* out) const {
    Matrix z = scores(theta, begin, end);
    const double loss = residuals(z, begin);
    const auto m = static_cast<Eigen::Index>(end - begin);
    Eigen::Map<Matrix> gw(out, static_cast<Eigen::Index>(r_), static_cast<Eigen::Index>(d_));
    gw.noalias() = z.transpose() * x_.middleRows(static_cast<Eigen::Index>(begin), m);
    if (intercept_) {
      Eigen::Map<Eigen::RowVectorXd>(out + r_ * d_, static_cast<Eigen::Index>(r_)) =
          z.colwise().sum();
    }
    out[params()] = loss;
  }

  void block_hessian(const Vector& theta, std::size_t begin, std::size_t end, double* out) const {
    Matrix z = scores(theta, begin, end);
    (void)residuals(z, begin);
    const auto m = static_cast<Eigen::Index>(end - begin);
    const auto xb = x_.middleRows(static_cast<Eigen::Index>(begin), m);
    // Probabilities back from residuals: p = residual + onehot(y).
    for (Eigen::Index i = 0; i < m; ++i) {
      const auto label = static_cast<Eigen::Index>(y_[begin + static_cast<std::size_t>(i)]);
      if (r_ == 1) {
        if (label == 1) z(i, 0) += 1.0;
      } else {
        z(i, label) += 1.0;
      }
    }
    const std::size_t p = params();
    const auto d = static_cast<Eigen::Index>(d_);
    Eigen::Map<Matrix> h(out, static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
    Vector weight(m);
    for (std::size_t a = 0; a < r_; ++a) {
      for (std::size_t c = a; c < r_; ++c) {
        const auto ai = static_cast<Eigen::Index>(a);
        const auto ci = static_cast<Eigen::Index>(c);
        // d^2 loss / dscore_a dscore_c = p_a (delta_ac - p_c); binary: p (1 - p).
        for (Eigen::Index i = 0; i < m; ++i) {
          weight(i) = z(i, ai) * ((a == c ? 1.0 : 0.0) - z(i, ci));
        }
        const Matrix weighted = xb.array().colwise() * weight.array();
        const Matrix block = xb.transpose() * weighted;
        h.block(ai * d, ci * d, d, d) = block;
        if (a != c) h.block(ci * d, ai * d, d, d) = block.transpose();
        if (intercept_) {
          const Eigen::Index bi = static_cast<Eigen::Index>(r_ * d_) + ai;
          const Eigen::Index bc = static_cast<Eigen::Index>(r_ * d_) + ci;
          const Eigen::RowVectorXd cross = weighted.colwise().sum();
          h.block(ai * d, bc, d, 1) = cross.transpose();
          h.block(bc, ai * d, 1, d) = cross;
          h.block(ci * d, bi, d, 1) = cross.transpose();
          h.block(bi, ci * d, 1, d) = cross;
          h(bi, bc) = weight.sum();
          h(bc, bi) = weight.sum();
        }
      }
    }
  }

  Matrix x_;
  std::vector<std::int32_t> y_;
  std::size_t r_;
  std::size_t d_;
  double l2_;
  bool intercept_;
  unsigned threads_;
};

// A point of the optimisation: parameters, objective and gradient.
struct Point {
  Vector theta;
  double f = 0;
  Vector g;
};

class Solve {
 public:
  Solve(const Problem& problem, const LogisticRegressionOptions& options)
      : problem_(problem), options_(options) {}

  Point evaluate(Vector theta) {
    Point point;
    point.theta = std::move(theta);
    point.f = problem_.objective(point.theta, &point.g);
    ++report_.evaluations;
    return point;
  }

  LogisticFitReport& report() { return report_; }

  // Tells options.on_iteration about `x`, reached after report().iterations iterations.
  void progress(const Point& x) const {
    if (options_.on_iteration) options_.on_iteration(report_.iterations, x.f);
  }

  // Minimises f from `start` by L-BFGS (see fit_logistic_regression's notes in docs/design.md).
  Point lbfgs(Point x) {
    std::deque<std::pair<Vector, Vector>> memory;  // (s, y) pairs, oldest first
    while (!converged(x) && report_.iterations < options_.max_iter) {
      Vector direction = two_loop(x.g, memory);
      double step = 1.0;
      if (memory.empty()) step = std::min(1.0, 1.0 / std::max(x.g.norm(), 1e-300));
      std::optional<Point> next = wolfe_search(x, direction, step);
      if (!next && !memory.empty()) {
        memory.clear();  // a stale curvature model: retry along the steepest descent
        direction = -x.g;
        next = wolfe_search(x, direction, std::min(1.0, 1.0 / std::max(x.g.norm(), 1e-300)));
      }
      if (!next) break;  // no decrease possible: round-off level
      Vector s = next->theta - x.theta;
      Vector y = next->g - x.g;
      const double sy = s.dot(y);
      if (sy > 1e-12 * y.squaredNorm() && sy > 0) {
        if (memory.size() == kHistory) memory.pop_front();
        memory.emplace_back(std::move(s), std::move(y));
      }
      x = std::move(*next);
      ++report_.iterations;
      progress(x);
    }
    return x;
  }

  // Minimises f from `start` by damped Newton steps.
  Point newton(Point x) {
    const bool gauge = problem_.intercept() && problem_.rows() > 2;
    const auto weights = static_cast<Eigen::Index>(problem_.rows() * problem_.features());
    const auto r = static_cast<Eigen::Index>(problem_.rows());
    while (!converged(x) && report_.iterations < options_.max_iter) {
      Matrix h = problem_.hessian(x.theta);
      if (gauge) {
        // Softmax ignores a common shift of the intercepts, so H is singular along
        // u = (1, ..., 1) on them; the gradient is orthogonal to u. Adding c u u^T makes H
        // positive definite without changing the step in u's orthogonal complement.
        const double c = 1.0 + h.diagonal().cwiseAbs().maxCoeff();
        h.block(weights, weights, r, r).array() += c / static_cast<double>(r);
      }
      Vector direction = newton_direction(h, x.g);
      std::optional<Point> next = armijo_search(x, direction);
      if (!next) {
        direction = -x.g;
        next = armijo_search(x, direction);
      }
      if (!next) break;
      x = std::move(*next);
      ++report_.iterations;
      progress(x);
    }
    return x;
  }

 private:
  bool converged(const Point& x) {
    report_.converged = max_abs(x.g) <= options_.tol;
    return report_.converged;
  }

  static Vector two_loop(const Vector& g, const std::deque<std::pair<Vector, Vector>>& memory) {
    Vector q = -g;
    std::vector<double> alpha(memory.size());
    for (std::size_t i = memory.size(); i-- > 0;) {
      const auto& [s, y] = memory[i];
      alpha[i] = s.dot(q) / s.dot(y);
      q -= alpha[i] * y;
    }
    if (!memory.empty()) {
      const auto& [s, y] = memory.back();
      q *= s.dot(y) / y.squaredNorm();
    }
    for (std::size_t i = 0; i < memory.size(); ++i) {
      const auto& [s, y] = memory[i];
      const double beta = y.dot(q) / s.dot(y);
      q += (alpha[i] - beta) * s;
    }
    return q;
  }

  static Vector newton_direction(const Matrix& h, const Vector& g) {
    const double scale = std::max(1.0, h.diagonal().cwiseAbs().maxCoeff());
    double shift = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
      Matrix shifted = h;
      shifted.diagonal().array() += shift;
      const Eigen::LDLT<Matrix> ldlt(shifted);
      if (ldlt.info() == Eigen::Success && ldlt.isPositive() && ldlt.vectorD().minCoeff() > 0) {
        Vector direction = ldlt.solve(-g);
        if (direction.allFinite() && direction.dot(g) < 0) return direction;
      }
      shift = shift == 0 ? 1e-10 * scale : shift * 100;
    }
    return -g;
  }

  // Backtracking from step 1, halving until the Armijo condition f(x + a d) <= f(x) + 1e-4 a g.d
  // holds (at most 60 halvings).
  std::optional<Point> armijo_search(const Point& x, const Vector& direction) {
    const double slope = x.g.dot(direction);
    if (!(slope < 0)) return std::nullopt;
    double step = 1.0;
    const double g_max = max_abs(x.g);
    for (int k = 0; k < 60; ++k, step *= 0.5) {
      Point next = evaluate(x.theta + step * direction);
      if (!std::isfinite(next.f)) continue;
      if (next.f <= x.f + 1e-4 * step * slope && next.f < x.f) return next;
      if (next.f <= x.f + kFlat * std::abs(x.f) && max_abs(next.g) < g_max) return next;
    }
    return std::nullopt;
  }

  // A step along `direction` satisfying the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9), by
  // Nocedal & Wright's bracketing and zoom (algorithms 3.5 and 3.6) with safeguarded cubic
  // interpolation. Within 30 evaluations; if the zoom runs out, the best point found that meets
  // the sufficient-decrease (Armijo) condition is taken. nullopt when none decreases f.
  std::optional<Point> wolfe_search(const Point& x, const Vector& direction, double step) {
    constexpr double kC1 = 1e-4;
    constexpr double kC2 = 0.9;
    constexpr int kBudget = 30;
    const double slope0 = x.g.dot(direction);
    if (!(slope0 < 0)) return std::nullopt;
    const auto at = [&](double a) { return evaluate(x.theta + a * direction); };
    const auto armijo = [&](const Point& p, double a) {
      return std::isfinite(p.f) && p.f <= x.f + kC1 * a * slope0;
    };
    const auto curvature = [&](const Point& p) {
      return std::abs(p.g.dot(direction)) <= -kC2 * slope0;
    };
    const auto flat = [&](const Point& p) {
      return std::isfinite(p.f) && p.f <= x.f + kFlat * std::abs(x.f);
    };

    struct Trial {
      double a;
      double f;
      double slope;
    };
    Trial prev{0.0, x.f, slope0};
    std::optional<Point> best;  // the lowest Armijo point seen
    int evals = 0;
    Trial lo{}, hi{};
    bool bracketed = false;
    while (evals < kBudget) {
      Point p = at(step);
      ++evals;
      if (!std::isfinite(p.f)) {  // overflow: come back toward the last good step
        step = prev.a + 0.5 * (step - prev.a);
        continue;
      }
      const Trial t{step, p.f, p.g.dot(direction)};
      if ((armijo(p, step) || flat(p)) && curvature(p)) return p;
      if (armijo(p, step) && (!best || p.f < best->f)) best = p;
      if (!armijo(p, step) || (evals > 1 && p.f >= prev.f)) {
        lo = prev;
        hi = t;
        bracketed = true;
        break;
      }
      if (curvature(p)) return p;
      if (t.slope >= 0) {
        lo = t;
        hi = prev;
        bracketed = true;
        break;
      }
      prev = t;
      step *= 2;
    }
    if (!bracketed) return best;
    // Zoom: lo satisfies Armijo with the lowest f so far; the minimiser lies between lo and hi.
    while (evals < kBudget) {
      const double left = std::min(lo.a, hi.a);
      const double right = std::max(lo.a, hi.a);
      const double width = right - left;
      if (!(width > 1e-14 * std::max(1.0, right))) break;
      double a = cubic_minimum(lo, hi);
      if (!(a >= left + 0.1 * width && a <= right - 0.1 * width)) a = left + 0.5 * width;
      Point p = at(a);
      ++evals;
      const Trial t{a, p.f, std::isfinite(p.f) ? p.g.dot(direction) : 0.0};
      if (flat(p) && !(armijo(p, a) && p.f < lo.f)) {
        // f is at round-off level: bisect on the slope instead.
        if (curvature(p)) return p;
        if (t.slope * (hi.a - lo.a) >= 0) {
          hi = t;
        } else {
          lo = t;
        }
        continue;
      }
      if (!armijo(p, a) || p.f >= lo.f) {
        hi = t;
        continue;
      }
      if (!best || p.f < best->f) best = p;
      if (curvature(p)) return p;
      if (t.slope * (hi.a - lo.a) >= 0) hi = lo;
      lo = t;
    }
    return best;
  }

  // The minimiser of the cubic through two trials' values and slopes (NaN when it has none).
  template <class Trial>
  static double cubic_minimum(const Trial& u, const Trial& v) {
    const double d1 = u.slope + v.slope - 3 * (u.f - v.f) / (u.a - v.a);
    const double disc = d1 * d1 - u.slope * v.slope;
    if (!(disc >= 0) || !std::isfinite(d1)) return std::numeric_limits<double>::quiet_NaN();
    const double d2 = std::copysign(std::sqrt(disc), v.a - u.a);
    return v.a - (v.a - u.a) * (v.slope + d2 - d1) / (v.slope - u.slope + 2 * d2);
  }

  const Problem& problem_;
  const LogisticRegressionOptions& options_;
  LogisticFitReport report_;
};

bool distinct(const std::vector<std::string>& names) {
  std::unordered_set<std::string_view> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) return false;
  }
  return true;
}

}  // namespace

LogisticModel::LogisticModel(std::vector<std::string> feature_names,
                             std::vector<std::string> classes, std::vector<double> coefficients,
                             std::vector<double> intercepts, LogisticFitReport report)
    : feature_names_(std::move(feature_names)),
      classes_(std::move(classes)),
      coefficients_(std::move(coefficients)),
      intercepts_(std::move(intercepts)),
      report_(report) {
  assert(classes_.size() >= 2 && "a classifier has at least 2 classes");
  assert(intercepts_.size() == (classes_.size() == 2 ? 1 : classes_.size()) &&
         "one intercept per coefficient row");
  assert(coefficients_.size() == intercepts_.size() * feature_names_.size() &&
         "one coefficient per row and feature");
  assert(distinct(feature_names_) && distinct(classes_) && "names must be distinct");
}

Result<Predictions> LogisticModel::predict(const Dataset& data) const {
  Result<std::vector<std::size_t>> cols =
      detail::bind_features(data, feature_names_, "LogisticModel::predict");
  if (!cols) return std::move(cols).error();
  const std::size_t n = data.num_rows();
  const auto r = static_cast<Eigen::Index>(intercepts_.size());
  const auto d = static_cast<Eigen::Index>(feature_names_.size());
  const auto k = static_cast<Eigen::Index>(classes_.size());
  const Eigen::Map<const Matrix> w(coefficients_.data(), r, d);
  const Eigen::Map<const Eigen::RowVectorXd> b(intercepts_.data(), r);
  Predictions out;
  out.task = Task::kClassification;
  out.classes = classes_;
  out.labels.resize(n);
  out.probabilities.resize(static_cast<Eigen::Index>(n), k);
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t end = std::min(n, begin + kBlock);
    const Matrix x = detail::feature_rows<double>(data.slice(begin, end), *cols);
    Matrix z = x * w.transpose();
    z.rowwise() += b;
    for (Eigen::Index i = 0; i < z.rows(); ++i) {
      const auto row = static_cast<Eigen::Index>(begin) + i;
      auto p = out.probabilities.row(row);
      if (r == 1) {
        p(1) = sigmoid(z(i, 0));
        p(0) = 1.0 - p(1);
      } else {
        const double top = z.row(i).maxCoeff();
        double sum = 0;
        for (Eigen::Index c = 0; c < k; ++c) sum += std::exp(z(i, c) - top);
        const double lse = top + std::log(sum);
        for (Eigen::Index c = 0; c < k; ++c) p(c) = std::exp(z(i, c) - lse);
      }
      Eigen::Index label = 0;
      for (Eigen::Index c = 1; c < k; ++c) {
        if (p(c) > p(label)) label = c;
      }
      out.labels[static_cast<std::size_t>(row)] = static_cast<std::int32_t>(label);
    }
  }
  return out;
}

std::string LogisticModel::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u32(static_cast<std::uint32_t>(feature_names_.size()));
  for (const std::string& name : feature_names_) writer.str(name);
  writer.u32(static_cast<std::uint32_t>(classes_.size()));
  for (const std::string& name : classes_) writer.str(name);
  for (double v : coefficients_) writer.f64(v);
  for (double v : intercepts_) writer.f64(v);
  writer.u8(static_cast<std::uint8_t>(report_.solver));
  writer.u8(report_.converged ? 1 : 0);
  writer.u64(report_.iterations);
  writer.u64(report_.evaluations);
  writer.f64(report_.objective);
  writer.f64(report_.gradient_max_norm);
  return std::move(writer).finish();
}

Result<LogisticModel> LogisticModel::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  const auto names = [&reader](std::size_t min_bytes_each) {
    std::vector<std::string> out;
    const std::uint32_t count = reader.u32();
    if (count > reader.remaining() / min_bytes_each) reader.fail();
    for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) out.push_back(reader.str());
    if (!distinct(out)) reader.fail();
    return out;
  };
  // A feature takes at least its name's length and one coefficient; a class its name's length.
  std::vector<std::string> features = names(12);
  std::vector<std::string> classes = names(4);
  if (classes.size() < 2) reader.fail();
  const std::size_t rows = classes.size() == 2 ? 1 : classes.size();
  std::vector<double> coefficients;
  std::vector<double> intercepts;
  if (!reader.failed() && (rows * (features.size() + 1)) <= reader.remaining() / 8) {
    coefficients.resize(rows * features.size());
    intercepts.resize(rows);
    for (double& v : coefficients) v = reader.f64();
    for (double& v : intercepts) v = reader.f64();
  } else {
    reader.fail();
  }
  for (double v : coefficients) {
    if (!std::isfinite(v)) reader.fail();
  }
  for (double v : intercepts) {
    if (!std::isfinite(v)) reader.fail();
  }
  LogisticFitReport report;
  const std::uint8_t solver = reader.u8();
  const std::uint8_t converged = reader.u8();
  report.iterations = reader.u64();
  report.evaluations = reader.u64();
  report.objective = reader.f64();
  report.gradient_max_norm = reader.f64();
  if (solver > static_cast<std::uint8_t>(Solver::kNewton) || converged > 1 ||
      !(report.objective >= 0) || !(report.gradient_max_norm >= 0)) {
    reader.fail();
  }
  report.solver = static_cast<Solver>(solver);
  report.converged = converged == 1;
  if (Status status = reader.finish(kName); !status.ok()) return status;
  return LogisticModel(std::move(features), std::move(classes), std::move(coefficients),
                       std::move(intercepts), report);
}

Result<LogisticModel> fit_logistic_regression(const Dataset& train,
                                              const LogisticRegressionOptions& options) {
  const std::string where(kWhat);
  if (!(std::isfinite(options.l2) && options.l2 > 0)) {
    return invalid_argument(where + ": l2 = " + std::to_string(options.l2) +
                            " must be finite and > 0 (it is 1/C; use a small value such as "
                            "1e-6 for a nearly unpenalised fit)");
  }
  if (!(std::isfinite(options.tol) && options.tol > 0)) {
    return invalid_argument(where + ": tol = " + std::to_string(options.tol) +
                            " must be finite and > 0");
  }
  if (options.max_iter == 0) return invalid_argument(where + ": max_iter must be >= 1");
  if (options.threads == 0) return invalid_argument(where + ": threads must be >= 1");
  Result<std::vector<std::size_t>> features = detail::training_features(train, kWhat);
  if (!features) return std::move(features).error();
  Result<detail::TrainingClasses> classes = detail::training_classes(train, kWhat);
  if (!classes) return std::move(classes).error();

  const std::size_t k = classes->classes.size();
  const std::size_t r = k == 2 ? 1 : k;
  const std::size_t d = features->size();
  const std::size_t params = r * d + (options.fit_intercept ? r : 0);
  if (options.solver == Solver::kNewton && params > kMaxNewtonParams) {
    return invalid_argument(where + ": the Newton solver needs a " + std::to_string(params) +
                            " x " + std::to_string(params) + " Hessian, above its limit of " +
                            std::to_string(kMaxNewtonParams) +
                            " parameters; use the L-BFGS solver (Solver::kLbfgs)");
  }

  const Problem problem(detail::feature_rows<double>(train, *features), std::move(classes->labels),
                        k, options.l2, options.fit_intercept, options.threads);
  Solve solve(problem, options);
  Point start = solve.evaluate(Vector::Zero(static_cast<Eigen::Index>(params)));
  solve.progress(start);
  Point x = options.solver == Solver::kNewton ? solve.newton(std::move(start))
                                              : solve.lbfgs(std::move(start));
  if (options.fit_intercept && r > 2) {
    // Report the intercepts with mean 0 (softmax is invariant to a common shift; both solvers
    // keep the mean at round-off level already).
    Vector theta = x.theta;
    const double mean = theta.tail(static_cast<Eigen::Index>(r)).mean();
    theta.tail(static_cast<Eigen::Index>(r)).array() -= mean;
    if (mean != 0) {
      const bool converged = solve.report().converged;
      x = solve.evaluate(std::move(theta));
      solve.report().converged = converged;
    }
  }
  if (!std::isfinite(x.f) || !x.theta.allFinite()) {
    return invalid_argument(where +
                            ": the objective is not finite; the feature values are too large, "
                            "scale them (e.g. StandardScaler)");
  }
  LogisticFitReport report = solve.report();
  report.solver = options.solver;
  report.objective = x.f;
  report.gradient_max_norm = max_abs(x.g);
  std::vector<double> coefficients(x.theta.data(), x.theta.data() + r * d);
  std::vector<double> intercepts(r, 0.0);
  if (options.fit_intercept) {
    std::copy(x.theta.data() + r * d, x.theta.data() + r * d + r, intercepts.begin());
  }
  return LogisticModel(detail::column_names(train, *features), std::move(classes->classes),
                       std::move(coefficients), std::move(intercepts), report);
}

}  // namespace trainflow::ml
