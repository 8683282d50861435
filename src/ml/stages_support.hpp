// Private support of the built-in ML stage types (src/ml/stages.cpp): parameter shorthands and the
// two stage shapes with optional ports — transformers (fit on `train`, transform `val` and `test`
// too) and models (fit on `train`, optionally watching `val`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "trainflow/exec/stage_context.hpp"
#include "trainflow/graph/stage_body.hpp"
#include "trainflow/ml/stages.hpp"
#include "trainflow/registry/registry.hpp"

namespace trainflow::ml::detail {

inline ParamSpec int_param(std::string name, std::string doc, std::size_t default_value, double min,
                           double max) {
  return {.name = std::move(name),
          .type = ParamType::kInt,
          .doc = std::move(doc),
          .default_value = static_cast<std::int64_t>(default_value),
          .min = min,
          .max = max};
}

inline ParamSpec columns_param(std::string doc) {
  return {.name = "columns",
          .type = ParamType::kStringList,
          .doc = std::move(doc),
          .default_value = std::vector<std::string>{}};
}

// `seed`: when not given, the stage's own seed (from the run seed and the stage's name).
inline ParamSpec seed_param() {
  return {.name = "seed",
          .type = ParamType::kInt,
          .doc = "random seed; default: derived from the run seed and the stage name",
          .default_value = std::int64_t{0},
          .min = 0.0};
}

inline std::uint64_t seed_or_stage(const Params& p, const StageContext& ctx) {
  return p.is_given("seed") ? static_cast<std::uint64_t>(p.get<std::int64_t>("seed")) : ctx.seed();
}

inline std::span<const std::string> string_list(const Params& p, std::string_view name) {
  return p.get<std::vector<std::string>>(name);
}

// A fitted concrete model as a ModelPtr.
template <class M>
Result<ModelPtr> share(Result<M> model) {
  if (!model) return std::move(model).error();
  return ModelPtr(std::make_shared<M>(std::move(*model)));
}

// The transformer shape: inputs train, [val], [test]; outputs train, [val], [test], fitted.
template <class Fitted>
class TransformerBody final : public StageBody {
 public:
  using Fit = std::function<Result<Fitted>(const Params&, const Dataset&)>;
  using Transform = std::function<Result<Dataset>(const Fitted&, const Dataset&, unsigned)>;

  TransformerBody(Params params, Fit fit, Transform transform, std::vector<std::string> inputs)
      : params_(std::move(params)),
        fit_(std::move(fit)),
        transform_(std::move(transform)),
        inputs_(std::move(inputs)) {}

  void invoke(StageCall& call) override {
    Result<Fitted> fitted = fit_(params_, call.input(0).get<Dataset>());
    if (!fitted) {
      call.fail(Status(fitted.error().code(), "fit on 'train': " + fitted.error().message()));
      return;
    }
    for (std::uint32_t i = 0; i < inputs_.size(); ++i) {
      Result<Dataset> out =
          transform_(*fitted, call.input(i).get<Dataset>(), call.context().threads());
      if (!out) {
        call.fail(Status(out.error().code(),
                         "transforming '" + inputs_[i] + "': " + out.error().message()));
        return;
      }
      call.set_output(i, Value::make(std::move(*out)));
    }
    call.set_output(static_cast<std::uint32_t>(inputs_.size()), Value::make(std::move(*fitted)));
  }

 private:
  Params params_;
  Fit fit_;
  Transform transform_;
  std::vector<std::string> inputs_;
};

template <class Fitted>
StageType transformer_type(std::string name, std::string doc, std::vector<ParamSpec> params,
                           typename TransformerBody<Fitted>::Fit fit,
                           typename TransformerBody<Fitted>::Transform transform) {
  StageType type;
  type.name = std::move(name);
  type.doc = std::move(doc);
  type.params = std::move(params);
  const TypeId data = type_id<Dataset>();
  type.inputs = {{.name = "train", .type = data, .doc = "rows to fit on (and transform)"},
                 {.name = "val", .type = data, .doc = "rows to transform", .optional = true},
                 {.name = "test", .type = data, .doc = "rows to transform", .optional = true}};
  type.outputs = {
      {.name = "train", .type = data, .doc = "transformed training rows"},
      {.name = "val", .type = data, .doc = "transformed val (when given)", .optional = true},
      {.name = "test", .type = data, .doc = "transformed test (when given)", .optional = true},
      {.name = "fitted", .type = type_id<Fitted>(), .doc = "the fitted state"}};
  type.make = [fit = std::move(fit), transform = std::move(transform)](
                  const Params& p, std::span<const std::string> inputs) -> Result<StageSpec> {
    StageSpec spec;
    std::vector<std::string> names(inputs.begin(), inputs.end());
    for (const std::string& input : names) {
      spec.inputs.push_back({input, type_id<Dataset>()});
      spec.outputs.push_back({input, type_id<Dataset>()});
    }
    spec.outputs.push_back({"fitted", type_id<Fitted>()});
    spec.body = std::make_shared<TransformerBody<Fitted>>(p, fit, transform, std::move(names));
    return spec;
  };
  return type;
}

// The model shape: inputs train and, when `uses_val`, an optional val; output model.
using FitModel =
    std::function<Result<ModelPtr>(const Params&, StageContext&, const Dataset&, const Dataset*)>;

class ModelBody final : public StageBody {
 public:
  ModelBody(Params params, FitModel fit) : params_(std::move(params)), fit_(std::move(fit)) {}
  void invoke(StageCall& call) override {
    const Dataset* val = call.num_inputs() > 1 ? &call.input(1).get<Dataset>() : nullptr;
    Result<ModelPtr> model = fit_(params_, call.context(), call.input(0).get<Dataset>(), val);
    if (!model) {
      call.fail(std::move(model).error());
      return;
    }
    call.set_output(0, Value::make(std::move(*model)));
  }

 private:
  Params params_;
  FitModel fit_;
};

inline StageType model_type(std::string name, std::string doc, std::vector<ParamSpec> params,
                            bool uses_val, FitModel fit) {
  StageType type;
  type.name = std::move(name);
  type.doc = std::move(doc);
  type.params = std::move(params);
  type.inputs = {{.name = "train", .type = type_id<Dataset>(), .doc = "labelled training rows"}};
  if (uses_val) {
    type.inputs.push_back({.name = "val",
                           .type = type_id<Dataset>(),
                           .doc = "labelled rows for early stopping",
                           .optional = true});
  }
  type.outputs = {{.name = "model", .type = type_id<ModelPtr>(), .doc = "the fitted model"}};
  type.make = [fit = std::move(fit)](const Params& p,
                                     std::span<const std::string> inputs) -> Result<StageSpec> {
    StageSpec spec;
    for (const std::string& input : inputs) spec.inputs.push_back({input, type_id<Dataset>()});
    spec.outputs.push_back({"model", type_id<ModelPtr>()});
    spec.body = std::make_shared<ModelBody>(p, fit);
    return spec;
  };
  return type;
}

}  // namespace trainflow::ml::detail
