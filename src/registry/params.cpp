#include "trainflow/registry/params.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

namespace trainflow {
namespace {

std::string format_double(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s = ec == std::errc{} ? std::string(buf, end) : std::to_string(v);
  // Keep a double recognisable as one: 1 -> 1.0 (but not 1e+300 or inf).
  if (std::isfinite(v) && s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string format_number(double v) {
  // Bounds print as integers when they are.
  if (std::abs(v) < 9.0e15 && v == std::floor(v)) {
    return std::to_string(static_cast<long long>(v));
  }
  return format_double(v);
}

std::string join(std::span<const std::string> items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out;
}

Status check_number(const ParamSpec& spec, double v) {
  if (std::isnan(v)) return invalid_argument("must be a number, got nan");
  if (spec.min && v < *spec.min) {
    return invalid_argument("must be >= " + format_number(*spec.min) + ", got " + format_number(v));
  }
  if (spec.max && v > *spec.max) {
    return invalid_argument("must be <= " + format_number(*spec.max) + ", got " + format_number(v));
  }
  if (!std::isfinite(v) && !(spec.min || spec.max)) {
    return invalid_argument("must be finite, got " + format_double(v));
  }
  return ok_status();
}

Status check_choice(const ParamSpec& spec, const std::string& v) {
  if (spec.choices.empty() ||
      std::find(spec.choices.begin(), spec.choices.end(), v) != spec.choices.end()) {
    return ok_status();
  }
  std::string message = "must be one of " + join(spec.choices) + "; got '" + v + "'";
  if (std::optional<std::string> near = closest_match(v, spec.choices)) {
    message += " (did you mean '" + *near + "'?)";
  }
  return invalid_argument(std::move(message));
}

template <class T>
Status check_list(const ParamSpec& spec, const std::vector<T>& list) {
  if (list.size() < spec.min_size || list.size() > spec.max_size) {
    std::string bounds =
        spec.max_size == static_cast<std::size_t>(-1)
            ? "at least " + std::to_string(spec.min_size)
            : std::to_string(spec.min_size) + " to " + std::to_string(spec.max_size);
    return invalid_argument("must have " + bounds + " elements, got " +
                            std::to_string(list.size()));
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    Status status;
    if constexpr (std::is_same_v<T, std::string>) {
      status = check_choice(spec, list[i]);
    } else {
      status = check_number(spec, static_cast<double>(list[i]));
    }
    if (!status.ok()) {
      return invalid_argument("element " + std::to_string(i) + " " + status.message());
    }
  }
  return ok_status();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::string unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    std::string out;
    for (std::size_t i = 1; i + 1 < s.size(); ++i) {
      if (s[i] == '\\' && i + 2 < s.size()) ++i;
      out.push_back(s[i]);
    }
    return out;
  }
  return std::string(s);
}

// Splits "[a, b, c]" into its trimmed elements; commas inside quotes do not split.
std::optional<std::vector<std::string_view>> split_list(std::string_view s) {
  s = trim(s);
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return std::nullopt;
  s = trim(s.substr(1, s.size() - 2));
  std::vector<std::string_view> items;
  if (s.empty()) return items;
  char quote_char = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && quote_char) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == quote_char) {
        quote_char = 0;
      }
      continue;
    }
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      quote_char = s[i];
      continue;
    }
    if (i == s.size() || s[i] == ',') {
      items.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return items;
}

// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
// adjacent characters each cost 1 ("lbgfs" is 1 from "lbfgs").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t w = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * w);
  for (std::size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      std::size_t best =
          std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        best = std::min(best, d[(i - 2) * w + j - 2] + 1);
      }
      d[i * w + j] = best;
    }
  }
  return d[a.size() * w + b.size()];
}

}  // namespace

std::string_view to_string(ParamType type) noexcept {
  switch (type) {
    case ParamType::kBool: return "bool";
    case ParamType::kInt: return "int";
    case ParamType::kDouble: return "double";
    case ParamType::kString: return "string";
    case ParamType::kIntList: return "list<int>";
    case ParamType::kDoubleList: return "list<double>";
    case ParamType::kStringList: return "list<string>";
  }
  return "unknown";
}

namespace {

std::string format_value(bool v) {
  return v ? "true" : "false";
}
std::string format_value(std::int64_t v) {
  return std::to_string(v);
}
std::string format_value(double v) {
  return format_double(v);
}
std::string format_value(const std::string& v) {
  return quote(v);
}
template <class T>
std::string format_value(const std::vector<T>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += format_value(v[i]);
  }
  return out + "]";
}

}  // namespace

std::string to_string(const ParamValue& value) {
  return std::visit([](const auto& v) { return format_value(v); }, value);
}

ParamValue coerce(const ParamSpec& spec, ParamValue value) {
  const ParamType got = type_of(value);
  if (spec.type == ParamType::kDouble && got == ParamType::kInt) {
    return static_cast<double>(std::get<std::int64_t>(value));
  }
  if (spec.type == ParamType::kDoubleList && got == ParamType::kIntList) {
    const auto& ints = std::get<std::vector<std::int64_t>>(value);
    return std::vector<double>(ints.begin(), ints.end());
  }
  if (spec.type == ParamType::kInt && got == ParamType::kDouble) {
    const double v = std::get<double>(value);
    if (std::abs(v) < 9007199254740992.0 && v == std::floor(v)) {
      return static_cast<std::int64_t>(v);
    }
  }
  if (spec.type == ParamType::kIntList && got == ParamType::kDoubleList) {
    const auto& doubles = std::get<std::vector<double>>(value);
    std::vector<std::int64_t> ints;
    for (double v : doubles) {
      if (!(std::abs(v) < 9007199254740992.0 && v == std::floor(v))) return value;
      ints.push_back(static_cast<std::int64_t>(v));
    }
    return ints;
  }
  // An empty list parses as whichever list type; take the declared one.
  if (spec.type >= ParamType::kIntList && got >= ParamType::kIntList) {
    const bool empty = std::visit(
        [](const auto& v) {
          if constexpr (requires { v.empty(); } &&
                        !std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
            return v.empty();
          } else {
            return false;
          }
        },
        value);
    if (empty) {
      switch (spec.type) {
        case ParamType::kIntList: return std::vector<std::int64_t>{};
        case ParamType::kDoubleList: return std::vector<double>{};
        default: return std::vector<std::string>{};
      }
    }
  }
  return value;
}

Status check_param(const ParamSpec& spec, const ParamValue& value) {
  if (type_of(value) != spec.type) {
    return invalid_argument("must be a " + std::string(to_string(spec.type)) + ", got a " +
                            std::string(to_string(type_of(value))) + " (" + to_string(value) + ")");
  }
  switch (spec.type) {
    case ParamType::kBool: return ok_status();
    case ParamType::kInt:
      return check_number(spec, static_cast<double>(std::get<std::int64_t>(value)));
    case ParamType::kDouble: return check_number(spec, std::get<double>(value));
    case ParamType::kString: return check_choice(spec, std::get<std::string>(value));
    case ParamType::kIntList: return check_list(spec, std::get<std::vector<std::int64_t>>(value));
    case ParamType::kDoubleList: return check_list(spec, std::get<std::vector<double>>(value));
    case ParamType::kStringList: return check_list(spec, std::get<std::vector<std::string>>(value));
  }
  return ok_status();
}

Result<ParamValue> parse_param(const ParamSpec& spec, std::string_view text) {
  const std::string_view s = trim(text);
  const auto expected = [&](std::string_view what) {
    return invalid_argument("expected " + std::string(what) + ", got '" + std::string(s) + "'");
  };
  switch (spec.type) {
    case ParamType::kBool:
      if (s == "true") return ParamValue(true);
      if (s == "false") return ParamValue(false);
      return expected("true or false");
    case ParamType::kInt:
      if (auto v = parse_int(s)) return ParamValue(*v);
      return expected("an integer");
    case ParamType::kDouble:
      if (auto v = parse_double(s)) return ParamValue(*v);
      return expected("a finite number");
    case ParamType::kString: return ParamValue(unquote(s));
    case ParamType::kIntList:
    case ParamType::kDoubleList:
    case ParamType::kStringList: {
      const std::optional<std::vector<std::string_view>> items = split_list(s);
      if (!items) return expected("a list like [a, b, c]");
      if (spec.type == ParamType::kStringList) {
        std::vector<std::string> out;
        for (std::string_view item : *items) out.push_back(unquote(item));
        return ParamValue(std::move(out));
      }
      if (spec.type == ParamType::kIntList) {
        std::vector<std::int64_t> out;
        for (std::string_view item : *items) {
          const std::optional<std::int64_t> v = parse_int(item);
          if (!v) return expected("a list of integers");
          out.push_back(*v);
        }
        return ParamValue(std::move(out));
      }
      std::vector<double> out;
      for (std::string_view item : *items) {
        const std::optional<double> v = parse_double(item);
        if (!v) return expected("a list of finite numbers");
        out.push_back(*v);
      }
      return ParamValue(std::move(out));
    }
  }
  return expected("a value");
}

const ParamValue* Params::find(std::string_view name) const noexcept {
  const auto it = std::lower_bound(values_.begin(), values_.end(), name,
                                   [](const std::pair<std::string, ParamValue>& entry,
                                      std::string_view n) { return entry.first < n; });
  if (it == values_.end() || it->first != name) return nullptr;
  return &it->second;
}

bool Params::is_given(std::string_view name) const noexcept {
  for (std::size_t k = 0; k < values_.size(); ++k) {
    if (values_[k].first == name) return given_[k];
  }
  return false;
}

std::string Params::canonical() const {
  std::string out;
  for (const auto& [name, value] : values_) {
    if (!out.empty()) out += ';';
    out += name;
    out += '=';
    out += to_string(value);
  }
  return out;
}

Result<Params> bind_params(std::span<const ParamSpec> specs,
                           std::vector<std::pair<std::string, ParamValue>> given,
                           std::string_view stage_type) {
  std::vector<std::string> problems;
  const std::string where = "stage type '" + std::string(stage_type) + "': parameter '";
  std::vector<std::string> names;
  names.reserve(specs.size());
  for (const ParamSpec& spec : specs) names.push_back(spec.name);

  std::vector<std::optional<ParamValue>> chosen(specs.size());
  for (auto& [name, value] : given) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      std::string message = where + name + "' is unknown";
      if (std::optional<std::string> near = closest_match(name, names)) {
        message += "; did you mean '" + *near + "'?";
      } else if (!names.empty()) {
        message += "; it takes " + join(names);
      } else {
        message += "; it takes no parameters";
      }
      problems.push_back(std::move(message));
      continue;
    }
    const auto k = static_cast<std::size_t>(it - names.begin());
    if (chosen[k]) {
      problems.push_back(where + name + "' is given twice");
      continue;
    }
    ParamValue converted = coerce(specs[k], std::move(value));
    if (Status status = check_param(specs[k], converted); !status.ok()) {
      problems.push_back(where + name + "' " + status.message());
      continue;
    }
    chosen[k] = std::move(converted);
  }

  Params params;
  std::vector<std::size_t> order(specs.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return specs[a].name < specs[b].name; });
  for (std::size_t k : order) {
    const ParamSpec& spec = specs[k];
    if (chosen[k]) {
      params.values_.emplace_back(spec.name, std::move(*chosen[k]));
      params.given_.push_back(true);
    } else if (spec.default_value) {
      params.values_.emplace_back(spec.name, *spec.default_value);
      params.given_.push_back(false);
    } else {
      // An unknown parameter with the right name but a bad value was reported above already.
      const bool reported = std::any_of(given.begin(), given.end(),
                                        [&](const auto& g) { return g.first == spec.name; });
      if (!reported) {
        problems.push_back(where + spec.name + "' is required (" + spec.doc + ") and not given");
      }
    }
  }
  if (!problems.empty()) {
    std::string message;
    for (const std::string& p : problems) {
      if (!message.empty()) message += '\n';
      message += p;
    }
    return invalid_argument(std::move(message));
  }
  return params;
}

std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string> candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(1, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

}  // namespace trainflow
