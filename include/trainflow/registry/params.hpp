// Stage parameters: the declared schema of a stage type's parameters (ParamSpec) and the checked
// values of one configured stage (Params).
//
// A stage type declares each parameter's name, type, default (or that it is required), range or
// allowed values, and a line of documentation. bind_params() checks what a workflow file or C++
// code gives against that schema and reports every problem at once; the Params it returns hold a
// value for every declared parameter, so a stage body reads them without checks of its own:
//
//   std::vector<ParamSpec> specs = {
//       {.name = "l2", .type = ParamType::kDouble, .doc = "L2 penalty",
//        .default_value = 1.0, .min = 0.0},
//       {.name = "solver", .type = ParamType::kString, .default_value = std::string("lbfgs"),
//        .choices = {"lbfgs", "newton"}}};
//   Result<Params> p = bind_params(specs, {{"l2", 0.5}}, "logistic_regression");
//   double l2 = p->get<double>("l2");   // 0.5
//
// Params are immutable values; safe to share by threads.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "trainflow/core/status.hpp"

namespace trainflow {

// The alternatives of ParamValue, in the same order.
enum class ParamType : std::uint8_t {
  kBool,
  kInt,
  kDouble,
  kString,
  kIntList,
  kDoubleList,
  kStringList,
};

// "bool", "int", "double", "string", "list<int>", "list<double>", "list<string>".
std::string_view to_string(ParamType type) noexcept;

using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<std::string>>;

inline ParamType type_of(const ParamValue& value) noexcept {
  return static_cast<ParamType>(value.index());
}

// The value as a workflow file writes it: true, 3, 0.5 (shortest form that reads back to the
// same double), "text" (quoted, with \" and \\ escaped), [1, 2], ["a", "b"].
std::string to_string(const ParamValue& value);

struct ParamSpec {
  // lower_snake_case, unique within the stage type.
  std::string name{};
  ParamType type = ParamType::kString;
  // One line for `trainflow stages`.
  std::string doc{};
  // The value when none is given; std::nullopt makes the parameter required. REQUIRES: of
  // `type` and within the constraints below (checked when the stage type is registered).
  std::optional<ParamValue> default_value{};
  // Inclusive bounds for numbers and for every element of a numeric list.
  std::optional<double> min{};
  std::optional<double> max{};
  // Allowed values of a string, or of every element of a string list; empty allows any.
  std::vector<std::string> choices{};
  // For lists: the allowed number of elements.
  std::size_t min_size = 0;
  std::size_t max_size = static_cast<std::size_t>(-1);
};

// Ok when `value` satisfies `spec`; otherwise kInvalidArgument with a message that names no
// parameter (the caller knows where it is), e.g. "must be >= 0, got -1",
// "must be one of lbfgs, newton; got 'lbgfs' (did you mean 'lbfgs'?)". An int is accepted for a
// double parameter and converted by the caller (see coerce()).
Status check_param(const ParamSpec& spec, const ParamValue& value);

// `value` converted to spec.type where the conversion is exact: int -> double, a list of ints ->
// a list of doubles, a double with an integral value (|v| < 2^53) -> int. Other values are
// returned unchanged (check_param then reports the type).
ParamValue coerce(const ParamSpec& spec, ParamValue value);

// Parses `text` as a value of spec.type, the way `--set stage.param=value` gives it: true/false,
// integers, decimal or exponent doubles (inf/nan rejected), strings as they are (or quoted "..."),
// lists as [a, b, c]. Fails with kInvalidArgument saying what was expected.
Result<ParamValue> parse_param(const ParamSpec& spec, std::string_view text);

class Params {
 public:
  Params() = default;

  // The value of declared parameter `name`. REQUIRES: declared, and T the alternative of its
  // ParamType (asserted in debug builds; std::bad_variant_access otherwise).
  template <class T>
  const T& get(std::string_view name) const {
    return std::get<T>(*find(name));
  }
  // The value, or nullptr when `name` is not declared.
  const ParamValue* find(std::string_view name) const noexcept;
  // True when the value was given rather than defaulted.
  bool is_given(std::string_view name) const noexcept;

  // Every parameter, sorted by name.
  const std::vector<std::pair<std::string, ParamValue>>& values() const noexcept { return values_; }
  // name=value pairs sorted by name, separated by ';', values as to_string(): identical for
  // equal parameters however they were given (a defaulted value and the same value given
  // explicitly agree). For cache keys and manifests.
  std::string canonical() const;

  // Same names and values (whether given or defaulted does not matter).
  friend bool operator==(const Params& a, const Params& b) { return a.values_ == b.values_; }

 private:
  friend Result<Params> bind_params(std::span<const ParamSpec>,
                                    std::vector<std::pair<std::string, ParamValue>>,
                                    std::string_view);
  std::vector<std::pair<std::string, ParamValue>> values_;
  std::vector<bool> given_;
};

// Checks `given` against `specs` and fills in defaults. Fails with kInvalidArgument listing every
// problem, one per line, each naming the parameter and `stage_type`: an unknown parameter (with
// the closest declared name when one is near), a parameter given twice, a required one missing,
// a wrong type, a value out of range or not among the choices.
Result<Params> bind_params(std::span<const ParamSpec> specs,
                           std::vector<std::pair<std::string, ParamValue>> given,
                           std::string_view stage_type);

// The candidate closest to `word` by edit distance, when it is close enough to be a likely typo
// (optimal-string-alignment distance, a swap of neighbours counting 1, at most
// max(1, word.size() / 3)); std::nullopt otherwise. For did-you-mean hints.
std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string> candidates);

}  // namespace trainflow
