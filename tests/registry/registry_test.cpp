#include "trainflow/registry/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "testing/printers.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/ml/csv.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/encode.hpp"
#include "trainflow/ml/impute.hpp"
#include "trainflow/ml/scale.hpp"
#include "trainflow/ml/stages.hpp"

namespace trainflow {
namespace {

using ml::Dataset;
using ml::Metrics;
using ml::ModelPtr;

StageType scale_by_type() {
  return make_stage_type<double>(
      {.name = "scale_by",
       .doc = "Multiplies by a factor",
       .version = 3,
       .params = {{.name = "factor",
                   .type = ParamType::kDouble,
                   .doc = "the factor",
                   .default_value = 2.0,
                   .min = 0.0}},
       .inputs = {"x"},
       .outputs = {"y"},
       .input_docs = {"a number"},
       .output_docs = {"the product"}},
      [](const Params& p, StageContext&, const double& x) { return x * p.get<double>("factor"); });
}

TEST(StageRegistryTest, TypedUserStageDeclaresItsPortsAndRunsWithItsParameters) {
  StageRegistry registry;
  ASSERT_TRUE(registry.add(scale_by_type()).ok());
  const StageType* type = registry.find("scale_by");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->version, 3u);
  ASSERT_EQ(type->inputs.size(), 1u);
  EXPECT_EQ(type->inputs[0].name, "x");
  EXPECT_EQ(type->inputs[0].type, type_id<double>());
  EXPECT_EQ(type->inputs[0].doc, "a number");
  ASSERT_EQ(type->outputs.size(), 1u);
  EXPECT_EQ(type->outputs[0].name, "y");
  EXPECT_EQ(type->outputs[0].type, type_id<double>());

  Result<StageSpec> spec = registry.instantiate("scale_by", "triple", {{"factor", 3.0}});
  ASSERT_TRUE(spec.has_value()) << spec.error().message();
  EXPECT_EQ(spec->name, "triple");
  EXPECT_EQ(spec->kind, "scale_by");

  Graph g;
  const StageId source = g.add_stage(make_stage_spec<>(StageOptions{.name = "source"},
                                                       [] { return 1.5; }));
  const StageId triple = g.add_stage(std::move(*spec));
  g.connect({source, 0}, {triple, 0});
  Executor executor{{.threads = 2}};
  const RunReport report = executor.run(g);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report.output({triple, 0})->get<double>(), 4.5);
}

TEST(StageRegistryTest, AddRejectsBadDeclarations) {
  StageRegistry registry;
  ASSERT_TRUE(registry.add(scale_by_type()).ok());
  Status again = registry.add(scale_by_type());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "stage type 'scale_by' is already registered; choose another name");

  StageType bad_name = scale_by_type();
  bad_name.name = "ScaleBy";
  EXPECT_NE(registry.add(bad_name).message().find("not lower_snake_case"), std::string::npos);

  StageType bad_default = scale_by_type();
  bad_default.name = "bad_default";
  bad_default.params[0].default_value = -1.0;
  EXPECT_EQ(registry.add(bad_default).message(),
            "stage type 'bad_default': parameter 'factor': its default must be >= 0, got -1");

  StageType twice = scale_by_type();
  twice.name = "twice";
  twice.params.push_back(twice.params[0]);
  EXPECT_NE(registry.add(twice).message().find("parameter 'factor' is declared twice"),
            std::string::npos);

  StageType no_make = scale_by_type();
  no_make.name = "no_make";
  no_make.make = nullptr;
  EXPECT_EQ(registry.add(no_make).message(), "stage type 'no_make': make is empty");

  StageType untyped = scale_by_type();
  untyped.name = "untyped";
  untyped.inputs[0].type = TypeId{};
  EXPECT_EQ(registry.add(untyped).message(), "stage type 'untyped': input 'x' has no type");
}

TEST(StageRegistryTest, InstantiateNamesWhatIsWrong) {
  StageRegistry registry;
  ASSERT_TRUE(registry.add(scale_by_type()).ok());
  Result<StageSpec> unknown = registry.instantiate("scale_bi", "s");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.error().message(), "unknown stage type 'scale_bi'; did you mean 'scale_by'?");

  Result<StageSpec> param = registry.instantiate("scale_by", "s", {{"factr", 1.0}});
  ASSERT_FALSE(param.has_value());
  EXPECT_EQ(param.error().message(),
            "stage type 'scale_by': parameter 'factr' is unknown; did you mean 'factor'?");

  const std::vector<std::string> optional{"y"};
  Result<StageSpec> port = registry.instantiate("scale_by", "s", {}, optional);
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error().message(),
            "stage 's' (scale_by): 'y' is not an optional input of this type");
}

TEST(StageRegistryTest, AMakeThatBreaksItsContractIsAnInternalError) {
  StageRegistry registry;
  StageType liar = scale_by_type();
  liar.name = "liar";
  liar.make = [](const Params&, std::span<const std::string>) -> Result<StageSpec> {
    return make_stage_spec<int>(StageOptions{.inputs = {"x"}, .outputs = {"y"}},
                                [](int v) { return v; });
  };
  ASSERT_TRUE(registry.add(liar).ok());
  Result<StageSpec> spec = registry.instantiate("liar", "l");
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code(), StatusCode::kInternal);
  EXPECT_NE(spec.error().message().find("stage type 'liar' broke its contract"),
            std::string::npos);
}

TEST(DefaultRegistryTest, HoldsTheBuiltInStagesSortedWithValidDeclarations) {
  std::vector<std::string> names;
  for (const StageType* type : default_registry().types()) names.push_back(type->name);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* expected :
       {"read_csv", "read_idx", "synthetic", "split", "kfold", "impute", "standard_scaler",
        "minmax_scaler", "robust_scaler", "one_hot", "ordinal", "column_transformer",
        "linear_regression", "logistic_regression", "mlp_classifier", "mlp_regressor", "predict",
        "evaluate", "gate", "write_csv"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const StageType* type : default_registry().types()) {
    EXPECT_FALSE(type->doc.empty()) << type->name;
    for (const ParamSpec& p : type->params) EXPECT_FALSE(p.doc.empty()) << type->name << "." << p.name;
    for (const PortDecl& d : type->inputs) EXPECT_FALSE(d.doc.empty()) << type->name << "." << d.name;
    for (const PortDecl& d : type->outputs) EXPECT_FALSE(d.doc.empty()) << type->name << "." << d.name;
  }
}

TEST(DefaultRegistryTest, TransformersGrowPortsForTheOptionalInputsGiven) {
  const std::vector<std::string> test_only{"test"};
  Result<StageSpec> spec = default_registry().instantiate("impute", "fill", {}, test_only);
  ASSERT_TRUE(spec.has_value()) << spec.error().message();
  ASSERT_EQ(spec->inputs.size(), 2u);
  EXPECT_EQ(spec->inputs[1].name, "test");
  ASSERT_EQ(spec->outputs.size(), 3u);
  EXPECT_EQ(spec->outputs[0].name, "train");
  EXPECT_EQ(spec->outputs[1].name, "test");
  EXPECT_EQ(spec->outputs[2].name, "fitted");
  EXPECT_EQ(spec->outputs[2].type, type_id<ml::FittedImputer>());
}

// synthetic -> split -> impute -> one_hot -> standard_scaler -> linear_regression -> evaluate ->
// gate, every stage made from the default registry by name.
struct RegressionGraph {
  Graph graph{"registry"};
  StageId split = 0, scale = 0, model = 0, metrics = 0, gate = 0, kept_train = 0, kept_model = 0;

  explicit RegressionGraph(std::string gate_condition) {
    StageRegistry& r = default_registry();
    const std::vector<std::string> test{"test"};
    const auto add = [&](std::string_view type, std::string name,
                         std::vector<std::pair<std::string, ParamValue>> params,
                         std::span<const std::string> optional = {}) {
      Result<StageSpec> spec = r.instantiate(type, std::move(name), std::move(params), optional);
      EXPECT_TRUE(spec.has_value()) << spec.error().message();
      return graph.add_stage(std::move(*spec));
    };
    const StageId data = add("synthetic", "data",
                             {{"task", std::string("regression")},
                              {"rows", std::int64_t{2000}},
                              {"missing_rate", 0.05},
                              {"noise_stddev", 0.1},
                              {"seed", std::int64_t{7}}});
    split = add("split", "split", {{"test_fraction", 0.25}, {"seed", std::int64_t{1}}});
    const StageId impute_num = add("impute", "impute_num", {{"strategy", std::string("median")}}, test);
    const StageId impute_cat =
        add("impute", "impute_cat", {{"strategy", std::string("most_frequent")}}, test);
    const StageId encode = add("one_hot", "encode", {}, test);
    scale = add("standard_scaler", "scale", {}, test);
    model = add("linear_regression", "model", {{"l2", 1e-3}});
    metrics = add("evaluate", "metrics", {});
    gate = add("gate", "gate", {{"conditions", std::vector<std::string>{gate_condition}}});
    graph.connect({data, 0}, {split, 0});
    graph.connect({split, 0}, {impute_num, 0});
    graph.connect({split, 2}, {impute_num, 1});
    graph.connect({impute_num, 0}, {impute_cat, 0});
    graph.connect({impute_num, 1}, {impute_cat, 1});
    graph.connect({impute_cat, 0}, {encode, 0});
    graph.connect({impute_cat, 1}, {encode, 1});
    graph.connect({encode, 0}, {scale, 0});
    graph.connect({encode, 1}, {scale, 1});
    graph.connect({scale, 0}, {model, 0});
    graph.connect({model, 0}, {metrics, 0});
    graph.connect({scale, 1}, {metrics, 1});
    graph.connect({metrics, 0}, {gate, 0});
    // Values with consumers are released after their last one: keep copies in sinks.
    kept_train = keep<Dataset>("kept_train", {scale, 0});
    kept_model = keep<ModelPtr>("kept_model", {model, 0});
  }

  template <class T>
  StageId keep(std::string name, PortRef from) {
    const StageId id = graph.add_stage(
        make_stage_spec<T>(StageOptions{.name = std::move(name)}, [](const T& v) { return v; }));
    graph.connect(from, {id, 0});
    return id;
  }
};

class RegistryPipelineTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(RegistryPipelineTest, BuiltInStagesRunEndToEndTheSameAtEveryWorkerCount) {
  RegressionGraph g("r2 >= 0.9");
  ASSERT_TRUE(g.graph.validate().ok()) << g.graph.validate().message();
  Executor executor{{.threads = GetParam()}};
  const RunReport report = executor.run(g.graph, {.seed = 11});
  ASSERT_TRUE(report.ok()) << report.error().message();
  const Metrics& m = report.output({g.gate, 0})->get<Metrics>();
  ASSERT_TRUE(m.contains("r2") && m.contains("rmse") && m.contains("mae"));
  EXPECT_GT(m.at("r2"), 0.9);

  // The scaled training rows have mean 0 and variance 1 in every numeric feature column.
  const Dataset& train = report.output({g.kept_train, 0})->get<Dataset>();
  for (std::size_t col : train.numeric_feature_indices()) {
    const Eigen::VectorXd v = train.to_vector(col);
    EXPECT_NEAR(v.mean(), 0.0, 1e-12) << train.column(col).name();
    EXPECT_NEAR((v.array() - v.mean()).square().mean(), 1.0, 1e-9) << train.column(col).name();
  }

  // Identical at any worker count: compare with a 1-worker run.
  Executor single{{.threads = 1}};
  const RunReport reference = single.run(g.graph, {.seed = 11});
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(reference.output({g.gate, 0})->get<Metrics>(), m);
  const ModelPtr& a = report.output({g.kept_model, 0})->get<ModelPtr>();
  const ModelPtr& b = reference.output({g.kept_model, 0})->get<ModelPtr>();
  EXPECT_EQ(a->to_bytes(), b->to_bytes());
}

TEST_P(RegistryPipelineTest, AFailingGateFailsTheRunWithTheOffendingValue) {
  RegressionGraph g("r2 >= 1.5");
  Executor executor{{.threads = GetParam()}};
  const RunReport report = executor.run(g.graph, {.seed = 11});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.failed_stage(), "gate");
  EXPECT_NE(report.error().message().find("gate failed: r2 = "), std::string::npos)
      << report.error().message();
  EXPECT_NE(report.error().message().find("required (>= 1.5)"), std::string::npos);
}

// synthetic (classification, categorical features, missing values) -> split (stratified) ->
// column_transformer on train, val and test -> logistic_regression and mlp_classifier (early
// stopping on val) -> evaluate each on test; predict writes the test predictions to CSV.
TEST_P(RegistryPipelineTest, ClassificationModelsTrainInParallelFromRegisteredStages) {
  StageRegistry& r = default_registry();
  Graph graph{"churn"};
  const auto add = [&](std::string_view type, std::string name,
                       std::vector<std::pair<std::string, ParamValue>> params,
                       std::vector<std::string> optional = {}) {
    Result<StageSpec> spec = r.instantiate(type, std::move(name), std::move(params), optional);
    EXPECT_TRUE(spec.has_value()) << spec.error().message();
    spec->threads = 2;
    return graph.add_stage(std::move(*spec));
  };
  const std::string csv = ::testing::TempDir() + "registry_predictions.csv";
  const StageId data = add("synthetic", "data",
                           {{"rows", std::int64_t{3000}},
                            {"classes", std::int64_t{3}},
                            {"missing_rate", 0.05},
                            {"seed", std::int64_t{5}}});
  const StageId split = add("split", "split",
                            {{"test_fraction", 0.2}, {"val_fraction", 0.1}, {"stratify", true}});
  const StageId features = add("column_transformer", "features", {}, {"val", "test"});
  const StageId logistic = add("logistic_regression", "logistic", {{"l2", 1.0}});
  const StageId mlp = add("mlp_classifier", "mlp",
                          {{"hidden_layers", std::vector<std::int64_t>{16}},
                           {"max_iter", std::int64_t{30}},
                           {"early_stopping", true},
                           {"seed", std::int64_t{3}}},
                          {"val"});
  const StageId score_logistic = add("evaluate", "score_logistic", {});
  const StageId score_mlp = add("evaluate", "score_mlp", {});
  const StageId predict = add("predict", "predict", {});
  const StageId write = add("write_csv", "write", {{"path", csv}});
  graph.connect({data, 0}, {split, 0});
  for (std::uint32_t port = 0; port < 3; ++port) graph.connect({split, port}, {features, port});
  graph.connect({features, 0}, {logistic, 0});
  graph.connect({features, 0}, {mlp, 0});
  graph.connect({features, 1}, {mlp, 1});
  graph.connect({logistic, 0}, {score_logistic, 0});
  graph.connect({features, 2}, {score_logistic, 1});
  graph.connect({mlp, 0}, {score_mlp, 0});
  graph.connect({features, 2}, {score_mlp, 1});
  graph.connect({logistic, 0}, {predict, 0});
  graph.connect({features, 2}, {predict, 1});
  graph.connect({predict, 0}, {write, 0});

  Executor executor{{.threads = GetParam()}};
  const RunReport report = executor.run(graph, {.seed = 1});
  ASSERT_TRUE(report.ok()) << report.error().message();
  const Metrics& lr = report.output({score_logistic, 0})->get<Metrics>();
  const Metrics& nn = report.output({score_mlp, 0})->get<Metrics>();
  for (const Metrics* m : {&lr, &nn}) {
    EXPECT_GT(m->at("accuracy"), 0.85);
    EXPECT_GT(m->at("roc_auc"), 0.95);
    EXPECT_TRUE(m->contains("log_loss") && m->contains("f1"));
  }
  // 600 test rows: the target, the prediction and three class probabilities.
  Result<Dataset> written = ml::read_csv(csv, {.target = "target"});
  ASSERT_TRUE(written.has_value()) << written.error().message();
  EXPECT_EQ(written->num_rows(), 600u);
  ASSERT_EQ(written->num_columns(), 5u);
  EXPECT_EQ(written->column(1).name(), "prediction");
  EXPECT_EQ(written->column(4).name(), "proba_class2");
  for (std::size_t row = 0; row < written->num_rows(); ++row) {
    EXPECT_NEAR(written->numeric(2, row) + written->numeric(3, row) + written->numeric(4, row), 1.0,
                1e-12);
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, RegistryPipelineTest, ::testing::Values(1u, 2u, 4u, 8u),
                         [](const ::testing::TestParamInfo<unsigned>& p) { return "w" + std::to_string(p.param); });

}  // namespace
}  // namespace trainflow
