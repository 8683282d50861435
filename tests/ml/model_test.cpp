// The Model interface's shared parts: classes learned from a target, labels of other datasets,
// prediction tables, evaluate() and load_model().
#include "trainflow/ml/model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ml/model_support.hpp"
#include "testing/ml.hpp"
#include "trainflow/ml/evaluate.hpp"
#include "trainflow/ml/linear.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/mlp.hpp"
#include "trainflow/ml/synthetic.hpp"

namespace trainflow::ml {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A classifier with fixed probabilities per row (read from column "p1", the probability of class
// 1 of 2): enough to test what every classifier shares.
class FixedClassifier final : public Model {
 public:
  explicit FixedClassifier(std::vector<std::string> classes) : classes_(std::move(classes)) {}
  std::string_view kind() const noexcept override { return "fixed"; }
  Task task() const noexcept override { return Task::kClassification; }
  const std::vector<std::string>& feature_names() const noexcept override { return features_; }
  const std::vector<std::string>& classes() const noexcept override { return classes_; }
  Result<Predictions> predict(const Dataset& data) const override {
    Result<std::vector<std::size_t>> cols = detail::bind_features(data, features_, "fixed");
    if (!cols) return std::move(cols).error();
    Predictions p;
    p.task = Task::kClassification;
    p.classes = classes_;
    p.probabilities.resize(static_cast<Eigen::Index>(data.num_rows()), 2);
    for (std::size_t r = 0; r < data.num_rows(); ++r) {
      const double p1 = data.numeric((*cols)[0], r);
      p.probabilities(static_cast<Eigen::Index>(r), 0) = 1 - p1;
      p.probabilities(static_cast<Eigen::Index>(r), 1) = p1;
      p.labels.push_back(p1 > 0.5 ? 1 : 0);
    }
    return p;
  }
  std::string to_bytes() const override { return "FIXED"; }

 private:
  std::vector<std::string> features_{"p1"};
  std::vector<std::string> classes_;
};

TEST(TrainingClassesTest, CategoricalTargetKeepsDictionaryOrderOfTheClassesThatOccur) {
  const Dataset ds = make_or_die(
      {Column::float64("x", {1, 2, 3, 4}),
       Column::categorical("y", {2, 0, 2, 0}, {"cat", "unused", "ant"})},
      "y");
  Result<detail::TrainingClasses> c = detail::training_classes(ds, "fit");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->classes, (std::vector<std::string>{"cat", "ant"}));
  EXPECT_EQ(c->labels, (std::vector<std::int32_t>{1, 0, 1, 0}));
}

TEST(TrainingClassesTest, NumericTargetSortsValuesAndNamesThemShortest) {
  const Dataset ds = make_or_die(
      {Column::float64("x", {1, 2, 3, 4}), Column::float64("y", {2.5, -0.0, 1, 0})}, "y");
  Result<detail::TrainingClasses> c = detail::training_classes(ds, "fit");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->classes, (std::vector<std::string>{"0", "1", "2.5"}));
  EXPECT_EQ(c->labels, (std::vector<std::int32_t>{2, 0, 1, 0}));
}

TEST(TrainingClassesTest, RejectsMissingLabelsAndASingleClass) {
  const Dataset missing = make_or_die(
      {Column::float64("x", {1, 2}), Column::float64("y", {1, kNaN})}, "y");
  Result<detail::TrainingClasses> a = detail::training_classes(missing, "fit_x");
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().message(),
            "fit_x: target column 'y' row 1 is missing; a class label must be a finite number or "
            "a category");
  const Dataset one = make_or_die(
      {Column::float64("x", {1, 2}), Column::categorical("y", {0, 0}, {"a", "b"})}, "y");
  Result<detail::TrainingClasses> b = detail::training_classes(one, "fit_x");
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().message(),
            "fit_x: target column 'y' has 1 class in the training rows; a classifier needs at "
            "least 2");
}

TEST(EncodeLabelsTest, MatchesClassesByNameWhateverTheDictionaryOrder) {
  const std::vector<std::string> classes{"no", "yes"};
  const Dataset ds = make_or_die(
      {Column::categorical("y", {0, 1, 1}, {"yes", "no"})}, "y");
  Result<std::vector<std::int32_t>> labels = encode_labels(ds, classes);
  ASSERT_TRUE(labels.has_value());
  EXPECT_EQ(*labels, (std::vector<std::int32_t>{1, 0, 0}));

  const Dataset numeric = make_or_die({Column::float64("y", {0, 1, 2})}, "y");
  Result<std::vector<std::int32_t>> unknown = encode_labels(numeric, std::vector<std::string>{"0", "1"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message(),
            "encode_labels: target column 'y' row 2 is '2', which is not a class of the model (it "
            "was not in the training rows)");
}

TEST(PredictionsTableTest, ClassifierTableHasTargetPredictionAndOneProbabilityPerClass) {
  const FixedClassifier model({"no", "yes"});
  const Dataset ds = make_or_die(
      {Column::float64("p1", {0.9, 0.2, 0.6}), Column::categorical("y", {1, 0, 0}, {"no", "yes"})},
      "y");
  Result<Dataset> table = predictions_table(model, ds.slice(1, 3));
  ASSERT_TRUE(table.has_value()) << table.error().message();
  ASSERT_EQ(table->num_columns(), 4u);
  EXPECT_EQ(table->num_rows(), 2u);
  EXPECT_EQ(table->target_name(), "y");
  EXPECT_EQ(table->column(1).name(), "prediction");
  EXPECT_EQ(table->column(2).name(), "proba_no");
  EXPECT_EQ(table->column(3).name(), "proba_yes");
  EXPECT_EQ(table->code(0, 0), 0);  // y of source row 1
  EXPECT_EQ(table->column(1).categories()[static_cast<std::size_t>(table->code(1, 1))], "yes");
  EXPECT_DOUBLE_EQ(table->numeric(2, 0), 0.8);
  EXPECT_DOUBLE_EQ(table->numeric(3, 1), 0.6);
}

TEST(PredictionsTableTest, RegressionTableOfALinearModel) {
  const LinearModel model({"x"}, {2.0}, 1.0, 1);
  const Dataset ds = make_or_die({Column::float64("x", {1, 2})});
  Result<Dataset> table = predictions_table(model, ds);
  ASSERT_TRUE(table.has_value());
  ASSERT_EQ(table->num_columns(), 1u);
  EXPECT_EQ(table->numeric(0, 0), 3.0);
  EXPECT_EQ(table->numeric(0, 1), 5.0);
}

TEST(PredictionsTableTest, ATargetNamedLikeAnOutputColumnIsAnError) {
  const LinearModel model({"x"}, {2.0}, 1.0, 1);
  const Dataset ds =
      make_or_die({Column::float64("x", {1, 2}), Column::float64("prediction", {0, 0})},
                  "prediction");
  Result<Dataset> table = predictions_table(model, ds);
  ASSERT_FALSE(table.has_value());
  EXPECT_EQ(table.error().message(),
            "predictions_table: the target column is called 'prediction', which is also the name "
            "of an output column; rename it");
}

TEST(EvaluateTest, BinaryClassifierMetricsMatchTheirDefinitions) {
  const FixedClassifier model({"no", "yes"});
  // Truth yes, no, yes, no; p(yes) 0.9, 0.6, 0.4, 0.1 -> predicted yes, yes, no, no.
  const Dataset ds = make_or_die(
      {Column::float64("p1", {0.9, 0.6, 0.4, 0.1}),
       Column::categorical("y", {1, 0, 1, 0}, {"no", "yes"})},
      "y");
  Result<Metrics> m = evaluate(model, ds);
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_DOUBLE_EQ(m->at("accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(m->at("precision"), 0.5);  // 1 true positive of 2 predicted
  EXPECT_DOUBLE_EQ(m->at("recall"), 0.5);     // 1 of 2 positives found
  EXPECT_DOUBLE_EQ(m->at("f1"), 0.5);
  // Positives score 0.9 and 0.4, negatives 0.6 and 0.1: 3 of 4 pairs ordered right.
  EXPECT_DOUBLE_EQ(m->at("roc_auc"), 0.75);
  EXPECT_NEAR(m->at("log_loss"),
              -(std::log(0.9) + std::log(0.4) + std::log(0.4) + std::log(0.9)) / 4, 1e-15);
  EXPECT_FALSE(m->contains("rmse"));
}

TEST(EvaluateTest, RegressionMetricsOfALinearModel) {
  const LinearModel model({"x"}, {1.0}, 0.0, 1);
  const Dataset ds = make_or_die(
      {Column::float64("x", {1, 2, 3}), Column::float64("y", {1, 2, 5})}, "y");
  Result<Metrics> m = evaluate(model, ds);
  ASSERT_TRUE(m.has_value());
  EXPECT_DOUBLE_EQ(m->at("rmse"), std::sqrt(4.0 / 3));
  EXPECT_DOUBLE_EQ(m->at("mae"), 2.0 / 3);
  // SS_res = 4, SS_tot = (1-8/3)^2 + (2-8/3)^2 + (5-8/3)^2 = 78/9.
  EXPECT_NEAR(m->at("r2"), 1 - 4 / (78.0 / 9), 1e-15);
  EXPECT_FALSE(m->contains("accuracy"));
}

TEST(LoadModelTest, ReadsALinearModelAndRejectsUnknownBytes) {
  const LinearModel model({"a", "b"}, {0.5, -2}, 3, 2);
  Result<std::shared_ptr<const Model>> loaded = load_model(model.to_bytes());
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ((*loaded)->kind(), "linear_regression");
  EXPECT_EQ((*loaded)->to_bytes(), model.to_bytes());
  Result<std::shared_ptr<const Model>> junk = load_model("not a model at all");
  ASSERT_FALSE(junk.has_value());
  EXPECT_EQ(junk.error().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(load_model("").has_value());
}

TEST(LoadModelTest, ReadsEveryKindOfModelWithBitIdenticalPredictions) {
  Result<SyntheticData> synth =
      make_synthetic({.rows = 300, .categorical_features = 0, .classes = 3, .seed = 4});
  ASSERT_TRUE(synth.has_value());
  const Dataset& ds = synth->data;
  Result<LogisticModel> logistic = fit_logistic_regression(ds);
  Result<MlpModel> mlp = fit_mlp_classifier(ds, {.hidden_layers = {8}, .max_epochs = 5});
  ASSERT_TRUE(logistic.has_value() && mlp.has_value());
  for (const Model* model : {static_cast<const Model*>(&*logistic), static_cast<const Model*>(&*mlp)}) {
    Result<std::shared_ptr<const Model>> loaded = load_model(model->to_bytes());
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    EXPECT_EQ((*loaded)->kind(), model->kind());
    Result<Predictions> a = model->predict(ds);
    Result<Predictions> b = (*loaded)->predict(ds);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(a->labels, b->labels);
    EXPECT_TRUE(a->probabilities.cwiseEqual(b->probabilities).all()) << model->kind();
    // A flipped byte is never read as a model.
    std::string bytes = model->to_bytes();
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
    EXPECT_FALSE(load_model(bytes).has_value());
  }
}

}  // namespace
}  // namespace trainflow::ml
