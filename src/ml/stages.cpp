// The built-in ML stage types: each wraps one function of the ML library, declares its
// parameters with the library's defaults, and names its ports.
#include "trainflow/ml/stages.hpp"

#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stages_support.hpp"
#include "trainflow/ml/column_transformer.hpp"
#include "trainflow/ml/csv.hpp"
#include "trainflow/ml/encode.hpp"
#include "trainflow/ml/gate.hpp"
#include "trainflow/ml/idx.hpp"
#include "trainflow/ml/impute.hpp"
#include "trainflow/ml/linear.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/mlp.hpp"
#include "trainflow/ml/scale.hpp"
#include "trainflow/ml/split.hpp"
#include "trainflow/ml/synthetic.hpp"
#include "trainflow/registry/registry.hpp"

namespace trainflow::ml {
namespace {

using detail::columns_param;
using detail::int_param;
using detail::seed_or_stage;
using detail::string_list;

StageType read_csv_type() {
  return make_stage_type<>(
      {.name = "read_csv",
       .doc = "Reads a CSV file (RFC 4180) into a dataset, parsed in parallel",
       .params =
           {
               {.name = "path", .type = ParamType::kString, .doc = "the file to read"},
               {.name = "target",
                .type = ParamType::kString,
                .doc = "the target column; empty for none",
                .default_value = std::string()},
               {.name = "delimiter",
                .type = ParamType::kString,
                .doc = "the field delimiter, one character",
                .default_value = std::string(","),
                .choices = {",", ";", "\t", "|", " "}},
               {.name = "header",
                .type = ParamType::kBool,
                .doc = "the first record names the columns",
                .default_value = true},
               {.name = "na_values",
                .type = ParamType::kStringList,
                .doc = "field texts that mean missing",
                .default_value = CsvOptions{}.na_values},
               {.name = "categorical",
                .type = ParamType::kStringList,
                .doc = "columns read as categories even when their values are numbers",
                .default_value = std::vector<std::string>{}},
               {.name = "float32",
                .type = ParamType::kBool,
                .doc = "store numeric columns as float32",
                .default_value = false},
           },
       .outputs = {"data"},
       .output_docs = {"the table"}},
      [](const Params& p, StageContext& ctx) -> Result<Dataset> {
        CsvOptions options;
        options.delimiter = p.get<std::string>("delimiter").front();
        options.header = p.get<bool>("header");
        options.na_values = p.get<std::vector<std::string>>("na_values");
        options.target = p.get<std::string>("target");
        options.float32 = p.get<bool>("float32");
        for (const std::string& name : p.get<std::vector<std::string>>("categorical")) {
          options.types.emplace(name, ColumnType::kCategorical);
        }
        options.threads = ctx.threads();
        return read_csv(p.get<std::string>("path"), options);
      });
}

StageType synthetic_type() {
  const SyntheticOptions defaults;
  return make_stage_type<>(
      {.name = "synthetic",
       .doc = "Draws a seeded dataset from a known linear model (target column 'target')",
       .params =
           {
               {.name = "task",
                .type = ParamType::kString,
                .doc = "classification or regression",
                .default_value = std::string("classification"),
                .choices = {"classification", "regression"}},
               int_param("rows", "number of rows", defaults.rows, 1, 4294967295.0),
               int_param("numeric_features", "float64 columns x0, x1, ...",
                         defaults.numeric_features, 0, 100000),
               int_param("categorical_features", "categorical columns cat0, cat1, ...",
                         defaults.categorical_features, 0, 100000),
               int_param("categories", "categories per categorical column", defaults.categories, 1,
                         100000),
               int_param("classes", "classes (classification)", defaults.classes, 2, 100000),
               {.name = "missing_rate",
                .type = ParamType::kDouble,
                .doc = "probability that a feature cell is missing",
                .default_value = defaults.missing_rate,
                .min = 0.0,
                .max = 0.999999},
               {.name = "label_noise",
                .type = ParamType::kDouble,
                .doc = "probability that a label is replaced by another class",
                .default_value = defaults.label_noise,
                .min = 0.0,
                .max = 0.999999},
               {.name = "noise_stddev",
                .type = ParamType::kDouble,
                .doc = "standard deviation of the target noise (regression)",
                .default_value = defaults.noise_stddev,
                .min = 0.0},
               detail::seed_param(),
           },
       .outputs = {"data"},
       .output_docs = {"the table"}},
      [](const Params& p, StageContext& ctx) -> Result<Dataset> {
        SyntheticOptions options;
        options.task = p.get<std::string>("task") == "regression"
                           ? SyntheticOptions::Task::kRegression
                           : SyntheticOptions::Task::kClassification;
        options.rows = static_cast<std::size_t>(p.get<std::int64_t>("rows"));
        options.numeric_features =
            static_cast<std::size_t>(p.get<std::int64_t>("numeric_features"));
        options.categorical_features =
            static_cast<std::size_t>(p.get<std::int64_t>("categorical_features"));
        options.categories = static_cast<std::size_t>(p.get<std::int64_t>("categories"));
        options.classes = static_cast<std::size_t>(p.get<std::int64_t>("classes"));
        options.missing_rate = p.get<double>("missing_rate");
        options.label_noise = p.get<double>("label_noise");
        options.noise_stddev = p.get<double>("noise_stddev");
        options.seed = seed_or_stage(p, ctx);
        Result<SyntheticData> data = make_synthetic(options);
        if (!data) return std::move(data).error();
        return std::move(data->data);
      });
}

StageType split_type() {
  return make_stage_type<Dataset>(
      {.name = "split",
       .doc = "Splits rows into train, validation and test views (seeded, optionally stratified)",
       .params =
           {
               {.name = "test_fraction",
                .type = ParamType::kDouble,
                .doc = "share of rows for test",
                .default_value = SplitOptions{}.test_fraction,
                .min = 0.0,
                .max = 0.999999},
               {.name = "val_fraction",
                .type = ParamType::kDouble,
                .doc = "share of rows for validation",
                .default_value = SplitOptions{}.validation_fraction,
                .min = 0.0,
                .max = 0.999999},
               {.name = "shuffle",
                .type = ParamType::kBool,
                .doc = "shuffle before splitting",
                .default_value = true},
               {.name = "stratify",
                .type = ParamType::kBool,
                .doc = "keep the target's class proportions in each part",
                .default_value = false},
               detail::seed_param(),
           },
       .inputs = {"data"},
       .outputs = {"train", "val", "test"},
       .input_docs = {"the table to split"},
       .output_docs = {"training rows", "validation rows (may be empty)", "test rows"}},
      [](const Params& p, StageContext& ctx,
         const Dataset& data) -> Result<Outputs<Dataset, Dataset, Dataset>> {
        SplitOptions options;
        options.test_fraction = p.get<double>("test_fraction");
        options.validation_fraction = p.get<double>("val_fraction");
        options.shuffle = p.get<bool>("shuffle");
        options.stratify = p.get<bool>("stratify");
        options.seed = seed_or_stage(p, ctx);
        Result<Split> split = train_test_split(data, options);
        if (!split) return std::move(split).error();
        return outputs(std::move(split->train), std::move(split->validation),
                       std::move(split->test));
      });
}

StageType kfold_type() {
  return make_stage_type<Dataset>(
      {.name = "kfold",
       .doc = "Cuts rows into k folds, each a (train, validation) pair of views",
       .params =
           {
               int_param("k", "number of folds", 5, 2, 1e9),
               {.name = "shuffle",
                .type = ParamType::kBool,
                .doc = "assign rows to folds in a seeded random order",
                .default_value = true},
               {.name = "stratify",
                .type = ParamType::kBool,
                .doc = "keep the target's class proportions in each fold",
                .default_value = false},
               detail::seed_param(),
           },
       .inputs = {"data"},
       .outputs = {"folds"},
       .input_docs = {"the table to cut"},
       .output_docs = {"the folds, in order"}},
      [](const Params& p, StageContext& ctx, const Dataset& data) -> Result<std::vector<Fold>> {
        KFoldOptions options;
        options.k = static_cast<std::size_t>(p.get<std::int64_t>("k"));
        options.shuffle = p.get<bool>("shuffle");
        options.stratify = p.get<bool>("stratify");
        options.seed = seed_or_stage(p, ctx);
        return kfold(data, options);
      });
}

StageType impute_type() {
  return detail::transformer_type<FittedImputer>(
      "impute", "Fills missing values (mean, median, most frequent or a constant)",
      {
          {.name = "strategy",
           .type = ParamType::kString,
           .doc = "how the fill is learned",
           .default_value = std::string("mean"),
           .choices = {"mean", "median", "most_frequent", "constant"}},
          {.name = "fill_value",
           .type = ParamType::kDouble,
           .doc = "numeric fill of strategy constant",
           .default_value = 0.0},
          {.name = "fill_category",
           .type = ParamType::kString,
           .doc = "categorical fill of strategy constant",
           .default_value = std::string("missing")},
          columns_param("columns to impute; empty: every feature column the strategy applies to"),
      },
      [](const Params& p, const Dataset& train) {
        SimpleImputerOptions options;
        const std::string& strategy = p.get<std::string>("strategy");
        options.strategy = strategy == "median"          ? ImputeStrategy::kMedian
                           : strategy == "most_frequent" ? ImputeStrategy::kMostFrequent
                           : strategy == "constant"      ? ImputeStrategy::kConstant
                                                         : ImputeStrategy::kMean;
        options.fill_value = p.get<double>("fill_value");
        options.fill_category = p.get<std::string>("fill_category");
        return SimpleImputer(options).fit(train, string_list(p, "columns"));
      },
      [](const FittedImputer& fitted, const Dataset& data, unsigned) {
        return fitted.transform(data);
      });
}

Result<Dataset> scale(const FittedScaler& fitted, const Dataset& data, unsigned) {
  return fitted.transform(data);
}

StageType standard_scaler_type() {
  return detail::transformer_type<FittedScaler>(
      "standard_scaler", "Standardises numeric columns to mean 0 and variance 1",
      {
          {.name = "with_mean",
           .type = ParamType::kBool,
           .doc = "subtract the mean",
           .default_value = true},
          {.name = "with_std",
           .type = ParamType::kBool,
           .doc = "divide by the standard deviation",
           .default_value = true},
          columns_param("columns to scale; empty: every numeric feature column"),
      },
      [](const Params& p, const Dataset& train) {
        return StandardScaler(
                   {.with_mean = p.get<bool>("with_mean"), .with_std = p.get<bool>("with_std")})
            .fit(train, string_list(p, "columns"));
      },
      scale);
}

StageType minmax_scaler_type() {
  return detail::transformer_type<FittedScaler>(
      "minmax_scaler", "Maps numeric columns' training range linearly onto [min, max]",
      {
          {.name = "min",
           .type = ParamType::kDouble,
           .doc = "lower end of the target range",
           .default_value = 0.0},
          {.name = "max",
           .type = ParamType::kDouble,
           .doc = "upper end of the target range",
           .default_value = 1.0},
          columns_param("columns to scale; empty: every numeric feature column"),
      },
      [](const Params& p, const Dataset& train) {
        return MinMaxScaler({.min = p.get<double>("min"), .max = p.get<double>("max")})
            .fit(train, string_list(p, "columns"));
      },
      scale);
}

StageType robust_scaler_type() {
  return detail::transformer_type<FittedScaler>(
      "robust_scaler", "Centres numeric columns on the median and scales by a quantile range",
      {
          {.name = "with_centering",
           .type = ParamType::kBool,
           .doc = "subtract the median",
           .default_value = true},
          {.name = "with_scaling",
           .type = ParamType::kBool,
           .doc = "divide by the quantile range",
           .default_value = true},
          {.name = "q_low",
           .type = ParamType::kDouble,
           .doc = "lower quantile, percent",
           .default_value = 25.0,
           .min = 0.0,
           .max = 100.0},
          {.name = "q_high",
           .type = ParamType::kDouble,
           .doc = "upper quantile, percent",
           .default_value = 75.0,
           .min = 0.0,
           .max = 100.0},
          columns_param("columns to scale; empty: every numeric feature column"),
      },
      [](const Params& p, const Dataset& train) {
        return RobustScaler({.with_centering = p.get<bool>("with_centering"),
                             .with_scaling = p.get<bool>("with_scaling"),
                             .q_low = p.get<double>("q_low"),
                             .q_high = p.get<double>("q_high")})
            .fit(train, string_list(p, "columns"));
      },
      scale);
}

StageType one_hot_type() {
  return detail::transformer_type<FittedOneHotEncoder>(
      "one_hot", "Replaces categorical columns by 0/1 indicator columns",
      {
          {.name = "unknown",
           .type = ParamType::kString,
           .doc = "a category unseen in training: error, or ignore (all zeros)",
           .default_value = std::string("error"),
           .choices = {"error", "ignore"}},
          int_param("max_categories",
                    "at most this many columns per feature, rare categories sharing '<col>=other'; "
                    "0: no limit",
                    0, 0, 1e9),
          columns_param("columns to encode; empty: every categorical feature column"),
      },
      [](const Params& p, const Dataset& train) {
        OneHotEncoderOptions options;
        options.unknown = p.get<std::string>("unknown") == "ignore"
                              ? OneHotEncoderOptions::Unknown::kIgnore
                              : OneHotEncoderOptions::Unknown::kError;
        options.max_categories = static_cast<std::size_t>(p.get<std::int64_t>("max_categories"));
        return OneHotEncoder(options).fit(train, string_list(p, "columns"));
      },
      [](const FittedOneHotEncoder& fitted, const Dataset& data, unsigned) {
        return fitted.transform(data);
      });
}

StageType ordinal_type() {
  return detail::transformer_type<FittedOrdinalEncoder>(
      "ordinal", "Replaces categorical columns by their category's index (0, 1, ...)",
      {
          {.name = "unknown",
           .type = ParamType::kString,
           .doc = "a category unseen in training: error, or use_missing (NaN)",
           .default_value = std::string("error"),
           .choices = {"error", "use_missing"}},
          columns_param("columns to encode; empty: every categorical feature column"),
      },
      [](const Params& p, const Dataset& train) {
        OrdinalEncoderOptions options;
        options.unknown = p.get<std::string>("unknown") == "use_missing"
                              ? OrdinalEncoderOptions::Unknown::kUseMissing
                              : OrdinalEncoderOptions::Unknown::kError;
        return OrdinalEncoder(options).fit(train, string_list(p, "columns"));
      },
      [](const FittedOrdinalEncoder& fitted, const Dataset& data, unsigned) {
        return fitted.transform(data);
      });
}

StageType linear_regression_type() {
  return detail::model_type(
      "linear_regression", "Least squares or ridge regression, solved in closed form",
      {
          {.name = "l2",
           .type = ParamType::kDouble,
           .doc = "ridge penalty on the weights; 0: ordinary least squares",
           .default_value = 0.0,
           .min = 0.0},
          {.name = "fit_intercept",
           .type = ParamType::kBool,
           .doc = "learn an intercept",
           .default_value = true},
      },
      /*uses_val=*/false,
      [](const Params& p, StageContext&, const Dataset& train, const Dataset*) -> Result<ModelPtr> {
        return detail::share(fit_linear_regression(
            train, {.l2 = p.get<double>("l2"), .fit_intercept = p.get<bool>("fit_intercept")}));
      });
}

StageType read_idx_type() {
  return make_stage_type<>(
      {.name = "read_idx",
       .doc = "Reads IDX files (plain or gzip; e.g. Fashion-MNIST) into pixel columns and a label",
       .params =
           {
               {.name = "images", .type = ParamType::kString, .doc = "the items file"},
               {.name = "labels", .type = ParamType::kString, .doc = "the labels file"},
               {.name = "scale",
                .type = ParamType::kDouble,
                .doc = "factor applied to every element",
                .default_value = IdxOptions{}.scale},
               {.name = "feature_prefix",
                .type = ParamType::kString,
                .doc = "feature j is called <prefix>j",
                .default_value = IdxOptions{}.feature_prefix},
               {.name = "target",
                .type = ParamType::kString,
                .doc = "the label column's name",
                .default_value = IdxOptions{}.target},
               {.name = "class_names",
                .type = ParamType::kStringList,
                .doc = "name of each label value; empty: the values themselves",
                .default_value = std::vector<std::string>{}},
               int_param("max_rows", "read only the first rows; 0: all", 0, 0, 4294967295.0),
           },
       .outputs = {"data"},
       .output_docs = {"the table"}},
      [](const Params& p, StageContext&) -> Result<Dataset> {
        IdxOptions options;
        options.scale = p.get<double>("scale");
        options.feature_prefix = p.get<std::string>("feature_prefix");
        options.target = p.get<std::string>("target");
        options.class_names = p.get<std::vector<std::string>>("class_names");
        options.max_rows = static_cast<std::size_t>(p.get<std::int64_t>("max_rows"));
        return read_idx(p.get<std::string>("images"), p.get<std::string>("labels"), options);
      });
}

// column_transformer: one numeric chain and one categorical chain, the common case; C++ code
// that needs more steps uses ColumnTransformer directly.
Result<FittedColumnTransformer> fit_column_transformer(const Params& p, const Dataset& train) {
  NumericStep numeric;
  numeric.columns = p.get<std::vector<std::string>>("numeric");
  const std::string& numeric_impute = p.get<std::string>("numeric_impute");
  if (numeric_impute != "none") {
    SimpleImputerOptions impute;
    impute.strategy = numeric_impute == "median"          ? ImputeStrategy::kMedian
                      : numeric_impute == "most_frequent" ? ImputeStrategy::kMostFrequent
                      : numeric_impute == "constant"      ? ImputeStrategy::kConstant
                                                          : ImputeStrategy::kMean;
    impute.fill_value = p.get<double>("fill_value");
    numeric.impute = impute;
  }
  const std::string& scale = p.get<std::string>("scale");
  if (scale == "standard") numeric.scale = StandardScalerOptions{};
  if (scale == "minmax") numeric.scale = MinMaxScalerOptions{};
  if (scale == "robust") numeric.scale = RobustScalerOptions{};

  CategoricalStep categorical;
  categorical.columns = p.get<std::vector<std::string>>("categorical");
  const std::string& categorical_impute = p.get<std::string>("categorical_impute");
  if (categorical_impute != "none") {
    SimpleImputerOptions impute;
    impute.strategy = categorical_impute == "constant" ? ImputeStrategy::kConstant
                                                       : ImputeStrategy::kMostFrequent;
    impute.fill_category = p.get<std::string>("fill_category");
    categorical.impute = impute;
  }
  const bool ignore = p.get<std::string>("unknown") == "ignore";
  if (p.get<std::string>("encode") == "ordinal") {
    categorical.encode =
        OrdinalEncoderOptions{.unknown = ignore ? OrdinalEncoderOptions::Unknown::kUseMissing
                                                : OrdinalEncoderOptions::Unknown::kError};
  } else {
    OneHotEncoderOptions one_hot;
    one_hot.unknown =
        ignore ? OneHotEncoderOptions::Unknown::kIgnore : OneHotEncoderOptions::Unknown::kError;
    one_hot.max_categories = static_cast<std::size_t>(p.get<std::int64_t>("max_categories"));
    categorical.encode = one_hot;
  }

  ColumnTransformerOptions options;
  // A chain over "every column of its kind" only when the data has such columns.
  if (!numeric.columns.empty() || !train.numeric_feature_indices().empty()) {
    options.steps.emplace_back(std::move(numeric));
  }
  if (!categorical.columns.empty() || !train.categorical_feature_indices().empty()) {
    options.steps.emplace_back(std::move(categorical));
  }
  options.remainder =
      p.get<std::string>("remainder") == "drop" ? Remainder::kDrop : Remainder::kPassthrough;
  return ColumnTransformer(std::move(options)).fit(train);
}

StageType column_transformer_type() {
  return detail::transformer_type<FittedColumnTransformer>(
      "column_transformer",
      "Imputes and scales numeric columns and imputes and encodes categorical ones in one fused, "
      "parallel pass",
      {
          {.name = "numeric",
           .type = ParamType::kStringList,
           .doc = "numeric columns; empty: every numeric feature column",
           .default_value = std::vector<std::string>{}},
          {.name = "numeric_impute",
           .type = ParamType::kString,
           .doc = "fill of missing numeric values",
           .default_value = std::string("mean"),
           .choices = {"none", "mean", "median", "most_frequent", "constant"}},
          {.name = "fill_value",
           .type = ParamType::kDouble,
           .doc = "numeric fill of numeric_impute constant",
           .default_value = 0.0},
          {.name = "scale",
           .type = ParamType::kString,
           .doc = "scaling of numeric columns",
           .default_value = std::string("standard"),
           .choices = {"none", "standard", "minmax", "robust"}},
          {.name = "categorical",
           .type = ParamType::kStringList,
           .doc = "categorical columns; empty: every categorical feature column",
           .default_value = std::vector<std::string>{}},
          {.name = "categorical_impute",
           .type = ParamType::kString,
           .doc = "fill of missing categories",
           .default_value = std::string("most_frequent"),
           .choices = {"none", "most_frequent", "constant"}},
          {.name = "fill_category",
           .type = ParamType::kString,
           .doc = "categorical fill of categorical_impute constant",
           .default_value = std::string("missing")},
          {.name = "encode",
           .type = ParamType::kString,
           .doc = "encoding of categorical columns",
           .default_value = std::string("one_hot"),
           .choices = {"one_hot", "ordinal"}},
          {.name = "unknown",
           .type = ParamType::kString,
           .doc = "a category unseen in training: error, or ignore (all zeros / NaN)",
           .default_value = std::string("ignore"),
           .choices = {"error", "ignore"}},
          int_param("max_categories", "one_hot: at most this many columns per feature; 0: no limit",
                    0, 0, 1e9),
          {.name = "remainder",
           .type = ParamType::kString,
           .doc = "columns in no chain: passthrough or drop",
           .default_value = std::string("passthrough"),
           .choices = {"passthrough", "drop"}},
      },
      fit_column_transformer,
      [](const FittedColumnTransformer& fitted, const Dataset& data, unsigned threads) {
        return fitted.transform(data, {.threads = threads});
      });
}

StageType logistic_regression_type() {
  const LogisticRegressionOptions defaults;
  return detail::model_type(
      "logistic_regression",
      "Binary or multinomial logistic regression with an L2 penalty (scikit-learn's objective, "
      "C = 1/l2)",
      {
          {.name = "l2",
           .type = ParamType::kDouble,
           .doc = "L2 penalty; scikit-learn's C is 1/l2",
           .default_value = defaults.l2,
           .min = 1e-300},
          int_param("max_iter", "most solver iterations", defaults.max_iter, 1, 1e9),
          {.name = "tol",
           .type = ParamType::kDouble,
           .doc = "stop when the largest gradient component is at most this",
           .default_value = defaults.tol,
           .min = 1e-300},
          {.name = "solver",
           .type = ParamType::kString,
           .doc = "lbfgs, or newton for up to 2048 parameters",
           .default_value = std::string("lbfgs"),
           .choices = {"lbfgs", "newton"}},
          {.name = "fit_intercept",
           .type = ParamType::kBool,
           .doc = "learn intercepts",
           .default_value = true},
      },
      /*uses_val=*/false,
      [](const Params& p, StageContext& ctx, const Dataset& train,
         const Dataset*) -> Result<ModelPtr> {
        LogisticRegressionOptions options;
        options.l2 = p.get<double>("l2");
        options.max_iter = static_cast<std::size_t>(p.get<std::int64_t>("max_iter"));
        options.tol = p.get<double>("tol");
        options.solver = p.get<std::string>("solver") == "newton"
                             ? LogisticRegressionOptions::Solver::kNewton
                             : LogisticRegressionOptions::Solver::kLbfgs;
        options.fit_intercept = p.get<bool>("fit_intercept");
        options.threads = ctx.threads();
        // The objective per iteration, live (a kMetric event each; the run store keeps them).
        options.on_iteration = [&ctx](std::size_t iteration, double objective) {
          ctx.report_metric("loss", objective, static_cast<std::int64_t>(iteration));
        };
        return detail::share(fit_logistic_regression(train, options));
      });
}

std::vector<ParamSpec> mlp_params() {
  const MlpOptions d;
  std::vector<std::int64_t> hidden(d.hidden_layers.begin(), d.hidden_layers.end());
  return {
      {.name = "hidden_layers",
       .type = ParamType::kIntList,
       .doc = "widths of the hidden layers, input side first",
       .default_value = hidden,
       .min = 1.0,
       .max = 16777216.0},
      {.name = "activation",
       .type = ParamType::kString,
       .doc = "hidden activation",
       .default_value = std::string("relu"),
       .choices = {"relu", "tanh"}},
      {.name = "solver",
       .type = ParamType::kString,
       .doc = "optimiser",
       .default_value = std::string("adam"),
       .choices = {"adam", "sgd"}},
      {.name = "learning_rate",
       .type = ParamType::kDouble,
       .doc = "step size",
       .default_value = d.learning_rate,
       .min = 1e-300},
      {.name = "momentum",
       .type = ParamType::kDouble,
       .doc = "sgd momentum",
       .default_value = d.momentum,
       .min = 0.0,
       .max = 1.0},
      {.name = "nesterov",
       .type = ParamType::kBool,
       .doc = "sgd: Nesterov's momentum",
       .default_value = d.nesterov},
      {.name = "beta1",
       .type = ParamType::kDouble,
       .doc = "adam: first moment decay",
       .default_value = d.beta1,
       .min = 0.0,
       .max = 0.999999999},
      {.name = "beta2",
       .type = ParamType::kDouble,
       .doc = "adam: second moment decay",
       .default_value = d.beta2,
       .min = 0.0,
       .max = 0.999999999},
      {.name = "epsilon",
       .type = ParamType::kDouble,
       .doc = "adam: denominator epsilon",
       .default_value = d.epsilon,
       .min = 1e-300},
      {.name = "l2",
       .type = ParamType::kDouble,
       .doc = "L2 penalty on the weights (scikit-learn's alpha)",
       .default_value = d.l2,
       .min = 0.0},
      int_param("batch_size", "rows per minibatch", d.batch_size, 1, 1e9),
      int_param("max_iter", "most epochs", d.max_epochs, 1, 1e9),
      {.name = "tol",
       .type = ParamType::kDouble,
       .doc = "improvement threshold for stopping",
       .default_value = d.tol,
       .min = 0.0},
      {.name = "early_stopping",
       .type = ParamType::kBool,
       .doc = "stop on the validation score (input val, or validation_fraction held out)",
       .default_value = d.early_stopping},
      {.name = "validation_fraction",
       .type = ParamType::kDouble,
       .doc = "share held out for early stopping when no val input is given",
       .default_value = d.validation_fraction,
       .min = 1e-9,
       .max = 0.999999999},
      int_param("n_iter_no_change", "epochs without improvement before stopping",
                d.n_iter_no_change, 1, 1e9),
      {.name = "shuffle",
       .type = ParamType::kBool,
       .doc = "visit rows in a new seeded order every epoch",
       .default_value = d.shuffle},
      detail::seed_param(),
  };
}

Result<ModelPtr> fit_mlp(const Params& p, StageContext& ctx, const Dataset& train,
                         const Dataset* val, bool classifier) {
  MlpOptions options;
  options.hidden_layers.clear();
  for (std::int64_t width : p.get<std::vector<std::int64_t>>("hidden_layers")) {
    options.hidden_layers.push_back(static_cast<std::size_t>(width));
  }
  options.activation =
      p.get<std::string>("activation") == "tanh" ? MlpActivation::kTanh : MlpActivation::kRelu;
  options.solver = p.get<std::string>("solver") == "sgd" ? MlpSolver::kSgd : MlpSolver::kAdam;
  options.learning_rate = p.get<double>("learning_rate");
  options.momentum = p.get<double>("momentum");
  options.nesterov = p.get<bool>("nesterov");
  options.beta1 = p.get<double>("beta1");
  options.beta2 = p.get<double>("beta2");
  options.epsilon = p.get<double>("epsilon");
  options.l2 = p.get<double>("l2");
  options.batch_size = static_cast<std::size_t>(p.get<std::int64_t>("batch_size"));
  options.max_epochs = static_cast<std::size_t>(p.get<std::int64_t>("max_iter"));
  options.tol = p.get<double>("tol");
  options.early_stopping = p.get<bool>("early_stopping");
  options.validation_fraction = p.get<double>("validation_fraction");
  options.n_iter_no_change = static_cast<std::size_t>(p.get<std::int64_t>("n_iter_no_change"));
  options.shuffle = p.get<bool>("shuffle");
  options.seed = seed_or_stage(p, ctx);
  options.threads = ctx.threads();
  // The training loss and validation score per epoch, live (kMetric events, step = epoch).
  options.on_epoch = [&ctx](std::size_t epoch, double loss, std::optional<double> score) {
    const auto step = static_cast<std::int64_t>(epoch);
    ctx.report_metric("loss", loss, step);
    if (score) ctx.report_metric("validation_score", *score, step);
  };
  return detail::share(classifier ? fit_mlp_classifier(train, options, val)
                                  : fit_mlp_regressor(train, options, val));
}

// oneDNN's OpenMP kernels may sum in another order with another thread count, so an MLP's
// thread grant is part of its cache key.
StageType mlp_classifier_type() {
  StageType type = detail::model_type(
      "mlp_classifier", "Multi-layer perceptron classifier (softmax cross-entropy) on oneDNN",
      mlp_params(), /*uses_val=*/true,
      [](const Params& p, StageContext& ctx, const Dataset& train, const Dataset* val) {
        return fit_mlp(p, ctx, train, val, true);
      });
  type.numerics_depend_on_threads = true;
  return type;
}

StageType mlp_regressor_type() {
  StageType type = detail::model_type(
      "mlp_regressor", "Multi-layer perceptron regressor (squared error) on oneDNN", mlp_params(),
      /*uses_val=*/true,
      [](const Params& p, StageContext& ctx, const Dataset& train, const Dataset* val) {
        return fit_mlp(p, ctx, train, val, false);
      });
  type.numerics_depend_on_threads = true;
  return type;
}

StageType predict_type() {
  return make_stage_type<ModelPtr, Dataset>(
      {.name = "predict",
       .doc = "Predicts a dataset: its target, 'prediction', and 'proba_<class>' for classifiers",
       .inputs = {"model", "data"},
       .outputs = {"predictions"},
       .input_docs = {"a fitted model", "rows to predict"},
       .output_docs = {"one row per input row"}},
      [](const Params&, StageContext&, const ModelPtr& model,
         const Dataset& data) -> Result<Dataset> { return predictions_table(*model, data); });
}

StageType evaluate_type() {
  return make_stage_type<ModelPtr, Dataset>(
      {.name = "evaluate",
       .doc = "Scores a model on labelled rows (accuracy, f1, roc_auc, log_loss / rmse, mae, r2)",
       .params = {{.name = "average",
                   .type = ParamType::kString,
                   .doc = "precision/recall/f1 over classes: auto (binary for 2 classes, else "
                          "macro), binary, macro or weighted",
                   .default_value = std::string("auto"),
                   .choices = {"auto", "binary", "macro", "weighted"}}},
       .inputs = {"model", "data"},
       .outputs = {"metrics"},
       .input_docs = {"a fitted model", "labelled rows"},
       .output_docs = {"metric name -> value"}},
      [](const Params& p, StageContext&, const ModelPtr& model,
         const Dataset& data) -> Result<Metrics> {
        EvaluateOptions options;
        const std::string& average = p.get<std::string>("average");
        if (average == "binary") options.average = Average::kBinary;
        if (average == "macro") options.average = Average::kMacro;
        if (average == "weighted") options.average = Average::kWeighted;
        return evaluate(*model, data, options);
      });
}

StageType gate_type() {
  return make_stage_type<Metrics>(
      {.name = "gate",
       .doc = "Fails the run unless every condition on the metrics holds",
       .params = {{.name = "conditions",
                   .type = ParamType::kStringList,
                   .doc = "conditions such as \"roc_auc >= 0.85\"",
                   .min_size = 1}},
       .inputs = {"metrics"},
       .outputs = {"metrics"},
       .input_docs = {"metrics to check"},
       .output_docs = {"the same metrics, when the gate passes"}},
      [](const Params& p, StageContext&, const Metrics& metrics) -> Result<Metrics> {
        Result<Gate> gate = Gate::parse(p.get<std::vector<std::string>>("conditions"));
        if (!gate) return std::move(gate).error();
        if (Status status = gate->check(metrics); !status.ok()) return status;
        return metrics;
      });
}

StageType write_csv_type() {
  return make_stage_type<Dataset>(
      {.name = "write_csv",
       .doc = "Writes a dataset as CSV (atomically: a reader sees the old file or the new one)",
       .params = {{.name = "path", .type = ParamType::kString, .doc = "the file to write"}},
       .inputs = {"data"},
       .input_docs = {"the table to write"}},
      [](const Params& p, StageContext&, const Dataset& data) -> Status {
        return data.write_csv(p.get<std::string>("path"));
      });
}

}  // namespace

StageType select_best_type();  // src/ml/select_best.cpp

namespace {

// Metrics as bytes: "TFMETRIC", the count, then each name (length, bytes) and value (the
// double's 8 bytes), in name order — equal maps give equal bytes, NaN payloads included.
constexpr std::string_view kMetricsMagic = "TFMETRIC";

template <class T>
void append_raw(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <class T>
bool take_raw(std::string_view& in, T& value) {
  if (in.size() < sizeof value) return false;
  std::memcpy(&value, in.data(), sizeof value);
  in.remove_prefix(sizeof value);
  return true;
}

std::string metrics_to_bytes(const Metrics& metrics) {
  std::string out(kMetricsMagic);
  append_raw<std::uint64_t>(out, metrics.size());
  for (const auto& [name, value] : metrics) {
    append_raw<std::uint64_t>(out, name.size());
    out += name;
    append_raw(out, value);
  }
  return out;
}

Result<Metrics> metrics_from_bytes(std::string_view in) {
  if (!in.starts_with(kMetricsMagic)) return invalid_argument("metrics bytes: wrong magic bytes");
  in.remove_prefix(kMetricsMagic.size());
  std::uint64_t count = 0;
  if (!take_raw(in, count) || count > in.size() / 16) {
    return invalid_argument("metrics bytes: bad or truncated count");
  }
  Metrics out;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t length = 0;
    double value = 0;
    if (!take_raw(in, length) || length > in.size()) {
      return invalid_argument("metrics bytes: truncated name of entry " + std::to_string(i));
    }
    std::string name(in.substr(0, static_cast<std::size_t>(length)));
    in.remove_prefix(static_cast<std::size_t>(length));
    if (!take_raw(in, value)) {
      return invalid_argument("metrics bytes: truncated value of '" + name + "'");
    }
    if (!out.emplace(std::move(name), value).second) {
      return invalid_argument("metrics bytes: a name appears twice");
    }
  }
  if (!in.empty()) return invalid_argument("metrics bytes: trailing bytes");
  return out;
}

std::string int_to_bytes(std::int64_t v) {
  std::string out;
  append_raw(out, v);
  return out;
}

Result<std::int64_t> int_from_bytes(std::string_view in) {
  std::int64_t v = 0;
  if (in.size() != sizeof v || !take_raw(in, v)) return invalid_argument("int bytes: not 8 bytes");
  return v;
}

template <class Fitted>
Codec fitted_codec() {
  return make_codec<Fitted>([](const Fitted& f) { return f.to_bytes(); },
                            [](std::string_view b) { return Fitted::from_bytes(b); });
}

void add_ml_codecs(StageRegistry& registry) {
  static_assert(std::endian::native == std::endian::little, "codecs write little-endian bytes");
  registry.add_codec(
      type_id<Dataset>(),
      make_codec<Dataset>([](const Dataset& d) { return d.to_bytes(); },
                          [](std::string_view b) { return Dataset::from_bytes(b); }));
  registry.add_codec(type_id<ModelPtr>(),
                     make_codec<ModelPtr>([](const ModelPtr& m) { return m->to_bytes(); },
                                          [](std::string_view b) { return load_model(b); }));
  registry.add_codec(type_id<Metrics>(), make_codec<Metrics>(metrics_to_bytes, metrics_from_bytes));
  registry.add_codec(type_id<std::int64_t>(),
                     make_codec<std::int64_t>(int_to_bytes, int_from_bytes));
  registry.add_codec(type_id<FittedImputer>(), fitted_codec<FittedImputer>());
  registry.add_codec(type_id<FittedScaler>(), fitted_codec<FittedScaler>());
  registry.add_codec(type_id<FittedOneHotEncoder>(), fitted_codec<FittedOneHotEncoder>());
  registry.add_codec(type_id<FittedOrdinalEncoder>(), fitted_codec<FittedOrdinalEncoder>());
  registry.add_codec(type_id<FittedColumnTransformer>(), fitted_codec<FittedColumnTransformer>());
}

}  // namespace

Status register_ml_stages(StageRegistry& registry) {
  using Factory = StageType (*)();
  for (Factory make : {read_csv_type,
                       read_idx_type,
                       synthetic_type,
                       split_type,
                       kfold_type,
                       impute_type,
                       standard_scaler_type,
                       minmax_scaler_type,
                       robust_scaler_type,
                       one_hot_type,
                       ordinal_type,
                       column_transformer_type,
                       linear_regression_type,
                       logistic_regression_type,
                       mlp_classifier_type,
                       mlp_regressor_type,
                       predict_type,
                       evaluate_type,
                       gate_type,
                       write_csv_type,
                       select_best_type}) {
    if (Status status = registry.add(make()); !status.ok()) return status;
  }
  registry.name_type(type_id<Dataset>(), "dataset");
  registry.name_type(type_id<ModelPtr>(), "model");
  registry.name_type(type_id<Metrics>(), "metrics");
  registry.name_type(type_id<std::vector<Fold>>(), "folds");
  registry.name_type(type_id<FittedImputer>(), "fitted_imputer");
  registry.name_type(type_id<FittedScaler>(), "fitted_scaler");
  registry.name_type(type_id<FittedOneHotEncoder>(), "fitted_one_hot");
  registry.name_type(type_id<FittedOrdinalEncoder>(), "fitted_ordinal");
  registry.name_type(type_id<FittedColumnTransformer>(), "fitted_column_transformer");
  registry.name_type(type_id<std::vector<ModelPtr>>(), "list<model>");
  registry.name_type(type_id<std::vector<Metrics>>(), "list<metrics>");
  registry.name_type(type_id<std::vector<Dataset>>(), "list<dataset>");
  registry.name_type(type_id<std::int64_t>(), "int");
  add_ml_codecs(registry);
  return ok_status();
}

}  // namespace trainflow::ml

namespace trainflow {

void register_builtin_stages(StageRegistry& registry) {
  const Status status = ml::register_ml_stages(registry);
  (void)status;  // a fresh registry has none of the names
}

}  // namespace trainflow
