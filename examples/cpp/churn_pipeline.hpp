// The flagship pipeline of examples/pipelines/churn.yaml, written in C++ with the typed Pipeline
// and the ML library: synthetic customers, a stratified train/validation/test split, one fused
// impute + scale + one-hot pass, a sweep of logistic-regression penalties and one of MLP shapes
// trained in parallel, each trial scored on the test rows, the best of each family by log loss,
// and a gate on the winner.
//
// Every stage has the name the workflow loader gives its YAML counterpart, so each draws the same
// seed from the run seed (StageContext::seed() derives from the run seed and the stage name), and
// the two pipelines give bit-identical models and metrics on the same run seed and thread count;
// tests/examples/flagship_test.cpp checks it.
#pragma once

#include <utility>  // before Boost.Asio's awaitable.hpp (included by pipeline.hpp)

#include <cstdint>
#include <string>
#include <vector>

#include <trainflow/ml.hpp>
#include <trainflow/trainflow.hpp>

namespace churn {

namespace tf = trainflow;
namespace ml = trainflow::ml;

// The handles a caller reads after the run: the outputs no other stage consumes.
struct Flagship {
  tf::Handle<ml::ModelPtr> best_logistic;
  tf::Handle<std::int64_t> best_logistic_index;
  tf::Handle<ml::ModelPtr> best_mlp;
  tf::Handle<ml::Metrics> best_mlp_metrics;
  tf::Handle<std::int64_t> best_mlp_index;
  tf::Handle<ml::Metrics> gate;  // the best logistic regression's metrics, when the gate passes
};

// Picks the best trial by `metric` (the select_best stage of workflow files).
inline auto select_best(std::string metric) {
  return [metric = std::move(metric)](const std::vector<ml::ModelPtr>& models,
                                      const std::vector<ml::Metrics>& metrics)
             -> tf::Result<tf::Outputs<ml::ModelPtr, ml::Metrics, std::int64_t>> {
    tf::Result<std::size_t> best = ml::best_trial(metrics, metric);
    if (!best) return std::move(best).error();
    return tf::outputs(models[*best], metrics[*best], static_cast<std::int64_t>(*best));
  };
}

inline tf::Result<ml::Metrics> evaluate(const ml::ModelPtr& model, const ml::Dataset& data) {
  return ml::evaluate(*model, data);
}

// Adds the flagship's stages to `p`.
inline Flagship add_flagship(tf::Pipeline& p) {
  auto customers = p.add("customers", [](tf::StageContext& ctx) -> tf::Result<ml::Dataset> {
    tf::Result<ml::SyntheticData> drawn = ml::make_synthetic({.rows = 20000,
                                                              .numeric_features = 8,
                                                              .categorical_features = 3,
                                                              .categories = 5,
                                                              .classes = 2,
                                                              .missing_rate = 0.05,
                                                              .label_noise = 0.05,
                                                              .seed = ctx.seed()});
    if (!drawn) return std::move(drawn).error();
    return std::move(drawn->data);
  });

  auto [train_rows, val_rows, test_rows] = p.add(
      {.name = "split", .outputs = {"train", "val", "test"}},
      [](tf::StageContext& ctx, const ml::Dataset& data)
          -> tf::Result<tf::Outputs<ml::Dataset, ml::Dataset, ml::Dataset>> {
        tf::Result<ml::Split> split = ml::train_test_split(data, {.test_fraction = 0.2,
                                                                  .validation_fraction = 0.1,
                                                                  .stratify = true,
                                                                  .seed = ctx.seed()});
        if (!split) return std::move(split).error();
        return tf::outputs(std::move(split->train), std::move(split->validation),
                           std::move(split->test));
      },
      customers);

  // Fitted on the training rows only; the validation and test rows get the same transform.
  auto [features_train, features_val, features_test] = p.add(
      {.name = "features", .outputs = {"train", "val", "test"}, .threads = 2},
      [](tf::StageContext& ctx, const ml::Dataset& train, const ml::Dataset& val,
         const ml::Dataset& test)
          -> tf::Result<tf::Outputs<ml::Dataset, ml::Dataset, ml::Dataset>> {
        ml::ColumnTransformer transformer(
            {.steps = {
                 ml::NumericStep{
                     .impute = ml::SimpleImputerOptions{.strategy = ml::ImputeStrategy::kMedian},
                     .scale = ml::StandardScalerOptions{}},
                 ml::CategoricalStep{
                     .impute =
                         ml::SimpleImputerOptions{.strategy = ml::ImputeStrategy::kMostFrequent},
                     .encode =
                         ml::OneHotEncoderOptions{.unknown =
                                                      ml::OneHotEncoderOptions::Unknown::kIgnore}},
             }});
        tf::Result<ml::FittedColumnTransformer> fitted = transformer.fit(train);
        if (!fitted) return std::move(fitted).error();
        const ml::ColumnTransformOptions options{.threads = ctx.threads()};
        tf::Result<ml::Dataset> a = fitted->transform(train, options);
        tf::Result<ml::Dataset> b = fitted->transform(val, options);
        tf::Result<ml::Dataset> c = fitted->transform(test, options);
        for (tf::Result<ml::Dataset>* r : {&a, &b, &c}) {
          if (!*r) return std::move(*r).error();
        }
        return tf::outputs(std::move(*a), std::move(*b), std::move(*c));
      },
      train_rows, val_rows, test_rows);

  // The logistic-regression sweep: one trial per penalty, each scored on the test rows.
  std::vector<tf::Handle<ml::ModelPtr>> logistic;
  std::vector<tf::Handle<ml::Metrics>> logistic_score;
  struct Penalty {
    const char* label;
    double l2;
  };
  for (const Penalty& penalty :
       {Penalty{"l2=0.1", 0.1}, Penalty{"l2=1.0", 1.0}, Penalty{"l2=10.0", 10.0}}) {
    const std::string trial = std::string("[") + penalty.label + "]";
    const double l2 = penalty.l2;
    logistic.push_back(p.add(
        "logistic" + trial,
        [l2](tf::StageContext& ctx, const ml::Dataset& data) -> tf::Result<ml::ModelPtr> {
          tf::Result<ml::LogisticModel> model =
              ml::fit_logistic_regression(data, {.l2 = l2, .threads = ctx.threads()});
          if (!model) return std::move(model).error();
          return std::make_shared<ml::LogisticModel>(std::move(*model));
        },
        features_train));
    logistic_score.push_back(
        p.add("logistic_score" + trial, evaluate, logistic.back(), features_test));
  }
  auto [best_logistic, best_logistic_metrics, best_logistic_index] =
      p.add({.name = "best_logistic", .outputs = {"model", "metrics", "index"}},
            select_best("log_loss"), p.gather("gather(best_logistic.models)", logistic),
            p.gather("gather(best_logistic.metrics)", logistic_score));

  // The MLP sweep: two shapes, early stopping on the validation rows.
  std::vector<tf::Handle<ml::ModelPtr>> mlp;
  std::vector<tf::Handle<ml::Metrics>> mlp_score;
  const std::vector<std::vector<std::size_t>> shapes = {{32}, {64, 32}};
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const std::string trial = "[" + std::to_string(i) + "]";
    mlp.push_back(p.add(
        "mlp" + trial,
        [hidden = shapes[i]](tf::StageContext& ctx, const ml::Dataset& data,
                             const ml::Dataset& validation) -> tf::Result<ml::ModelPtr> {
          ml::MlpOptions options;
          options.hidden_layers = hidden;
          options.max_epochs = 40;
          options.early_stopping = true;
          options.seed = 1;
          options.threads = ctx.threads();
          tf::Result<ml::MlpModel> model = ml::fit_mlp_classifier(data, options, &validation);
          if (!model) return std::move(model).error();
          return std::make_shared<ml::MlpModel>(std::move(*model));
        },
        features_train, features_val));
    mlp_score.push_back(p.add("mlp_score" + trial, evaluate, mlp.back(), features_test));
  }
  auto [best_mlp, best_mlp_metrics, best_mlp_index] = p.add(
      {.name = "best_mlp", .outputs = {"model", "metrics", "index"}}, select_best("log_loss"),
      p.gather("gather(best_mlp.models)", mlp), p.gather("gather(best_mlp.metrics)", mlp_score));

  auto gate = p.add(
      "gate",
      [](const ml::Metrics& metrics) -> tf::Result<ml::Metrics> {
        const std::vector<std::string> conditions = {"roc_auc >= 0.85", "accuracy >= 0.8"};
        tf::Result<ml::Gate> parsed = ml::Gate::parse(conditions);
        if (!parsed) return std::move(parsed).error();
        if (tf::Status passed = parsed->check(metrics); !passed.ok()) return passed;
        return metrics;
      },
      best_logistic_metrics);

  return {best_logistic, best_logistic_index, best_mlp, best_mlp_metrics, best_mlp_index, gate};
}

}  // namespace churn
