// StageRegistry: stage types by name, each with declared parameters and typed ports, from which
// workflow files (and any code that builds graphs at run time) make stages.
//
// trainflow's built-in stages (read_csv, standard_scaler, logistic_regression, evaluate, ...) are
// in default_registry(); C++ users add their own types to it, or to a registry of their own:
//
//   trainflow::StageRegistry& registry = trainflow::default_registry();
//   Status added = registry.add(trainflow::make_stage_type<ml::Dataset>(
//       {.name = "clip", .doc = "Clips every numeric feature to [-limit, limit]",
//        .params = {{.name = "limit", .type = ParamType::kDouble, .doc = "bound",
//                    .default_value = 3.0, .min = 0.0}},
//        .inputs = {"data"}, .outputs = {"out"}},
//       [](const Params& p, StageContext& ctx, const ml::Dataset& data) -> Result<ml::Dataset> {
//         return clip(data, p.get<double>("limit"), ctx.threads());
//       }));
//   Result<StageSpec> stage = registry.instantiate("clip", "clip_features", {{"limit", 2.5}});
//
// Thread safety: every member may be called concurrently (a registry guards itself); a StageType
// found by find() stays valid while its registry lives, since types are never removed.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/graph/value.hpp"
#include "trainflow/registry/params.hpp"

namespace trainflow {

struct PortDecl {
  std::string name{};  // lower_snake_case, unique among the type's inputs (resp. outputs)
  TypeId type{};
  std::string doc{};
  // An optional input may be left unbound; an optional output exists only when make() says so
  // (e.g. a transformer's `test` output exists when its `test` input is bound).
  bool optional = false;
};

struct StageType {
  // lower_snake_case: [a-z][a-z0-9_]*.
  std::string name{};
  // One line for `trainflow stages`.
  std::string doc{};
  // Bumped when the type's results change for the same inputs and parameters; part of cache
  // keys. User types may use a code fingerprint here.
  std::uint32_t version = 1;
  std::vector<ParamSpec> params{};
  std::vector<PortDecl> inputs{};
  std::vector<PortDecl> outputs{};
  // True when results may differ with the thread grant (StageSpec::numerics_depend_on_threads).
  bool numerics_depend_on_threads = false;
  // Builds one configured stage from checked parameters and the names of the inputs it will be
  // given (every required input and the chosen optional ones, in declaration order). The result's
  // inputs must be exactly those ports, and its outputs declared ones (required ones all
  // present), in declaration order, with the declared types; its name is set by the caller.
  std::function<Result<StageSpec>(const Params& params, std::span<const std::string> inputs)>
      make{};
};

// How values of one port type are stored as bytes (cache artifacts) and read back. encode must
// be deterministic — equal values give equal bytes, since artifacts are addressed by their
// content — and decode(encode(v)) must behave like v, bit for bit, for every stage that reads
// it. decode fails with an error saying what is wrong with the bytes; it never trusts them.
struct Codec {
  std::function<std::string(const Value&)> encode{};
  std::function<Result<Value>(std::string_view)> decode{};
};

// A Codec for T from encode(const T&) -> std::string and decode(std::string_view) -> Result<T>.
template <class T, class Encode, class Decode>
Codec make_codec(Encode encode, Decode decode) {
  return {[encode](const Value& v) -> std::string { return encode(v.get<T>()); },
          [decode](std::string_view bytes) -> Result<Value> {
            Result<T> value = decode(bytes);
            if (!value) return std::move(value).error();
            return Value::make(std::move(*value));
          }};
}

class StageRegistry {
 public:
  StageRegistry();
  ~StageRegistry();
  StageRegistry(const StageRegistry&) = delete;
  StageRegistry& operator=(const StageRegistry&) = delete;

  // Adds a type. Fails with kAlreadyExists when the name is taken; kInvalidArgument when a name
  // (type, parameter or port) is not lower_snake_case or is repeated, a default does not satisfy
  // its own parameter's constraints, a port has no type, or make is empty.
  Status add(StageType type);

  // The type called `name`, or nullptr.
  const StageType* find(std::string_view name) const;
  // Every type, sorted by name.
  std::vector<const StageType*> types() const;
  // kNotFound for an unknown type, naming the closest registered name when one is near.
  Status unknown_type(std::string_view name) const;

  // A stage called `stage_name` of type `type`, with `params` checked by bind_params() and the
  // optional inputs in `optional_inputs` bound (required inputs always are). Fails with kNotFound
  // for an unknown type or optional input, with bind_params()'s errors, or with what make()
  // reports; kInternal when make() breaks its contract (the type's author must fix it).
  Result<StageSpec> instantiate(std::string_view type, std::string stage_name,
                                std::vector<std::pair<std::string, ParamValue>> params = {},
                                std::span<const std::string> optional_inputs = {}) const;

  // A short name for a port type in listings and messages ("dataset" rather than
  // "trainflow::ml::Dataset"). Naming a type again replaces its name.
  void name_type(TypeId type, std::string name);
  // The short name given to `type`, or the compiler's spelling of it.
  std::string type_name(TypeId type) const;

  // Declares how values of `type` are stored, so that outputs of that type can be cached.
  // Replaces an earlier codec of the type. REQUIRES: both functions set.
  void add_codec(TypeId type, Codec codec);
  // The codec of `type`, or nullptr when values of that type are never stored.
  std::shared_ptr<const Codec> codec(TypeId type) const;

 private:
  mutable std::mutex mutex_;
  std::deque<StageType> types_;  // stable addresses
  std::vector<std::pair<TypeId, std::string>> type_names_;
  std::vector<std::pair<TypeId, std::shared_ptr<const Codec>>> codecs_;
};

// The process-wide registry, holding trainflow's built-in stage types on first use.
StageRegistry& default_registry();

// The declaration part of make_stage_type().
struct StageTypeInfo {
  std::string name{};
  std::string doc{};
  std::uint32_t version = 1;
  std::vector<ParamSpec> params{};
  std::vector<std::string> inputs{};   // one name per In, in order
  std::vector<std::string> outputs{};  // one name per output (default "out", or "out0", ...)
  std::vector<std::string> input_docs{};
  std::vector<std::string> output_docs{};
};

namespace detail {

// Calls fn(params, ctx, in...) with the parameters bound: a callable with a concrete signature,
// so that the stage machinery of Pipeline can type its ports.
template <class F, class... In>
struct ParamsBound {
  F fn;
  Params params;
  auto operator()(StageContext& ctx, const In&... in) const { return fn(params, ctx, in...); }
};

}  // namespace detail

// A stage type whose stages call fn(const Params&, StageContext&, const In&...) and return what
// a Pipeline stage may return (a value, Result<T>, Status, Outputs<...>). Ports are typed from
// In... and fn's result.
template <class... In, class F>
StageType make_stage_type(StageTypeInfo info, F fn) {
  using Bound = detail::ParamsBound<F, In...>;
  StageType type;
  // The port types, read from a spec built once with default-constructed parameters.
  StageSpec probe = make_stage_spec<In...>(
      StageOptions{.inputs = info.inputs, .outputs = info.outputs}, Bound{fn, Params{}});
  for (std::size_t i = 0; i < probe.inputs.size(); ++i) {
    type.inputs.push_back({.name = probe.inputs[i].name,
                           .type = probe.inputs[i].type,
                           .doc = i < info.input_docs.size() ? info.input_docs[i] : std::string()});
  }
  for (std::size_t i = 0; i < probe.outputs.size(); ++i) {
    type.outputs.push_back(
        {.name = probe.outputs[i].name,
         .type = probe.outputs[i].type,
         .doc = i < info.output_docs.size() ? info.output_docs[i] : std::string()});
  }
  type.name = std::move(info.name);
  type.doc = std::move(info.doc);
  type.version = info.version;
  type.params = std::move(info.params);
  type.make = [fn = std::move(fn), inputs = std::move(info.inputs),
               outputs = std::move(info.outputs), kind = type.name](
                  const Params& params, std::span<const std::string>) -> Result<StageSpec> {
    return make_stage_spec<In...>(StageOptions{.inputs = inputs, .outputs = outputs, .kind = kind},
                                  Bound{fn, params});
  };
  return type;
}

}  // namespace trainflow
