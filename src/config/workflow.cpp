// The workflow-file loader: YAML text -> checked declarations -> sweeps expanded -> Graph.
//
// Phases: (1) prescan() refuses hostile text; (2) YAML::Load (single document); (3) a walk over
// the known keys, converting and checking every value where it is (every node visit is charged to
// a budget, so aliases cannot make it expensive); (4) the stage graph of the file is ordered
// (cycles reported), and in that order each stage's inputs are resolved — a stage that needs a
// sweep either joins it (one copy per trial) or gathers it (a list input) — and its stages are
// instantiated through the registry; (5) the Graph is assembled and validated.
#include "trainflow/config/workflow.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "config/prescan.hpp"
#include "trainflow/ml/stages.hpp"

namespace trainflow::config {
namespace {

// A stage's `retry: N` as the executor's policy: N + 1 attempts, the default backoff (100 ms,
// doubling, at most 10 s, no jitter), retrying transient errors, timeouts and exceptions.
RetryPolicy stage_retry_policy(const StageSettings& settings) {
  RetryPolicy policy;
  policy.max_attempts = settings.retry + 1;
  policy.retry_on.push_back(StatusCode::kUnknown);
  return policy;
}

struct Pos {
  int line = 0;  // 1-based; 0: not in the file (overrides)
  int column = 0;
};

Pos pos_of(const YAML::Node& node, Pos fallback) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return fallback;
  return {mark.line + 1, mark.column + 1};
}

class Errors {
 public:
  Errors(std::string file, std::size_t max) : file_(std::move(file)), max_(max) {}

  void add(Pos pos, std::string message) {
    entries_.push_back({pos.line, pos.column, entries_.size(),
                        file_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) +
                            ": " + std::move(message)});
  }
  // A problem outside the file (an override), listed first.
  void add_plain(std::string message) {
    entries_.push_back({0, 0, entries_.size(), std::move(message)});
  }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }

  Status status() {
    std::stable_sort(entries_.begin(), entries_.end());
    std::string message;
    const std::size_t shown = std::min(entries_.size(), max_);
    for (std::size_t i = 0; i < shown; ++i) {
      if (i) message += '\n';
      message += std::get<3>(entries_[i]);
    }
    if (entries_.size() > shown) {
      message +=
          "\n" + file_ + ": ... and " + std::to_string(entries_.size() - shown) + " more problems";
    }
    return invalid_argument(std::move(message));
  }

 private:
  std::string file_;
  std::size_t max_;
  std::vector<std::tuple<int, int, std::size_t, std::string>> entries_;
};

std::string did_you_mean(std::string_view word, std::span<const std::string> candidates) {
  if (std::optional<std::string> near = closest_match(word, candidates)) {
    return "; did you mean '" + *near + "'?";
  }
  std::string list;
  for (std::size_t i = 0; i < candidates.size() && i < 12; ++i) {
    list += (i ? ", " : "") + candidates[i];
  }
  if (candidates.size() > 12) list += ", ...";
  return candidates.empty() ? std::string() : "; expected one of: " + list;
}

// Every node the loader looks at is charged here; an alias costs again at each use.
class Walk {
 public:
  Walk(Errors& errors, std::size_t budget) : errors_(errors), budget_(budget) {}

  // False once the budget is spent (reported once). Also reports explicit tags.
  bool visit(const YAML::Node& node, Pos at) {
    if (budget_ == 0) {
      if (!exhausted_) {
        exhausted_ = true;
        errors_.add(at,
                    "the file expands to more than the node budget (LoadOptions::max_nodes), "
                    "probably through aliases (*name) used many times; write the values out");
      }
      return false;
    }
    --budget_;
    const std::string& tag = node.Tag();
    if (!tag.empty() && tag != "?" && tag != "!") {
      errors_.add(pos_of(node, at), "YAML tags are not supported (found '" + tag +
                                        "'); remove it and write the plain value");
    }
    return true;
  }
  bool exhausted() const { return exhausted_; }
  Errors& errors() { return errors_; }

 private:
  Errors& errors_;
  std::size_t budget_;
  bool exhausted_ = false;
};

const char* kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

struct Entry {
  std::string key;
  Pos pos;
  YAML::Node value;
  Pos value_pos;
};

// The pairs of a mapping, keys checked (plain scalars, no duplicates). Reports `what` not being a
// mapping and returns nothing then.
std::vector<Entry> entries(Walk& walk, const YAML::Node& map, Pos at, std::string_view what) {
  std::vector<Entry> out;
  if (!map.IsMap()) {
    walk.errors().add(pos_of(map, at),
                      std::string(what) + " must be a mapping (name: value), got " + kind_of(map));
    return out;
  }
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!walk.visit(it->first, at) || !walk.visit(it->second, at)) break;
    const Pos key_pos = pos_of(it->first, at);
    if (!it->first.IsScalar()) {
      walk.errors().add(key_pos, "a key in " + std::string(what) + " must be a plain name, got " +
                                     kind_of(it->first));
      continue;
    }
    std::string key = it->first.Scalar();
    const auto dup =
        std::find_if(out.begin(), out.end(), [&](const Entry& e) { return e.key == key; });
    if (dup != out.end()) {
      walk.errors().add(key_pos, "duplicate key '" + key + "' in " + std::string(what) +
                                     " (first at line " + std::to_string(dup->pos.line) +
                                     "); remove one");
      continue;
    }
    out.push_back({std::move(key), key_pos, it->second, pos_of(it->second, key_pos)});
  }
  return out;
}

template <class F>
void for_each_item(Walk& walk, const YAML::Node& seq, Pos at, F f) {
  for (auto it = seq.begin(); it != seq.end(); ++it) {
    if (!walk.visit(*it, at)) return;
    f(*it, pos_of(*it, at));
  }
}

void unknown_key(Walk& walk, const Entry& e, std::string_view where,
                 std::span<const std::string> known) {
  walk.errors().add(
      e.pos, "unknown key '" + e.key + "' in " + std::string(where) + did_you_mean(e.key, known));
}

std::optional<std::string> read_string(Walk& walk, const Entry& e, std::string_view what) {
  if (!e.value.IsScalar()) {
    walk.errors().add(e.value_pos,
                      std::string(what) + " must be a string, got " + kind_of(e.value));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::int64_t> read_int(Walk& walk, const Entry& e, std::string_view what,
                                     std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc{} && end == s.data() + s.size() && v >= min && v <= max) return v;
  }
  walk.errors().add(e.value_pos, std::string(what) + " must be an integer from " +
                                     std::to_string(min) + " to " + std::to_string(max) + ", got " +
                                     (e.value.IsScalar() ? "'" + e.value.Scalar() + "'"
                                                         : std::string(kind_of(e.value))));
  return std::nullopt;
}

std::optional<bool> to_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::optional<bool> read_bool(Walk& walk, const Entry& e, std::string_view what) {
  if (e.value.IsScalar()) {
    if (std::optional<bool> b = to_bool(e.value.Scalar())) return b;
  }
  walk.errors().add(e.value_pos, std::string(what) + " must be true or false, got " +
                                     (e.value.IsScalar() ? "'" + e.value.Scalar() + "'"
                                                         : std::string(kind_of(e.value))));
  return std::nullopt;
}

// "30s", "5m", "2h", "250ms", "1.5h" or a plain number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  double scale = 1000.0;
  std::string_view number = s;
  const auto ends = [&](std::string_view suffix) {
    return number.size() > suffix.size() && number.substr(number.size() - suffix.size()) == suffix;
  };
  if (ends("ms")) {
    scale = 1.0;
    number.remove_suffix(2);
  } else if (ends("s")) {
    number.remove_suffix(1);
  } else if (ends("m")) {
    scale = 60e3;
    number.remove_suffix(1);
  } else if (ends("h")) {
    scale = 3600e3;
    number.remove_suffix(1);
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  const double ms = v * scale;
  if (!(ms >= 1.0) || ms > 7.0 * 24 * 3600e3) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

// "512MiB", "2 GiB", "1.5GB", "800" (MiB): a size in MiB, rounded up; std::nullopt when it is
// not one or not in [0, 2^40] MiB.
std::optional<std::uint64_t> parse_memory_mb(std::string_view s) {
  struct Unit {
    std::string_view suffix;
    double mib;
  };
  static constexpr Unit kUnits[] = {{"KiB", 1.0 / 1024},     {"MiB", 1},
                                    {"GiB", 1024},           {"TiB", 1024 * 1024},
                                    {"KB", 1e3 / 1048576.0}, {"MB", 1e6 / 1048576.0},
                                    {"GB", 1e9 / 1048576.0}, {"TB", 1e12 / 1048576.0}};
  double scale = 1;
  for (const Unit& u : kUnits) {
    if (s.size() > u.suffix.size() && s.ends_with(u.suffix)) {
      scale = u.mib;
      s.remove_suffix(u.suffix.size());
      break;
    }
  }
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  const double mib = std::ceil(v * scale - 1e-9);
  if (mib > static_cast<double>(std::int64_t{1} << 40)) return std::nullopt;
  return static_cast<std::uint64_t>(std::max(0.0, mib));
}

// Where a `resources` mapping set its keys, for messages about how they combine.
struct ResourcePositions {
  std::optional<Pos> threads;
  std::optional<Pos> max_threads;
};

void read_resources(Walk& walk, const Entry& e, std::string_view where, Resources& out,
                    ResourcePositions* positions = nullptr) {
  static const std::vector<std::string> kKeys = {
      "threads", "max_threads", "memory", "memory_mb", "gpus", "gpu_memory", "gpu_memory_mb"};
  const std::string what = std::string(where) + " resources";
  std::optional<std::string> memory_key;  // memory or memory_mb, whichever came first
  std::optional<std::string> gpu_memory_key;
  const auto read_memory = [&](const Entry& r, std::optional<std::string>& seen,
                               std::uint64_t& field) {
    if (seen) {
      walk.errors().add(
          r.pos, what + ": '" + r.key + "' and '" + *seen + "' both give the same size; keep one");
      return;
    }
    seen = r.key;
    if (r.key.ends_with("_mb")) {
      if (auto v = read_int(walk, r, what + "." + r.key, 0, std::int64_t{1} << 40)) {
        field = static_cast<std::uint64_t>(*v);
      }
      return;
    }
    std::optional<std::uint64_t> mb;
    if (r.value.IsScalar()) mb = parse_memory_mb(r.value.Scalar());
    if (mb) {
      field = *mb;
    } else {
      walk.errors().add(r.value_pos, what + "." + r.key +
                                         " must be a size such as 512MiB, 2GiB or 1.5GB (KiB, "
                                         "MiB, GiB, TiB, KB, MB, GB, TB; a plain number is MiB) "
                                         "up to 1024 TiB, got " +
                                         (r.value.IsScalar() ? "'" + r.value.Scalar() + "'"
                                                             : std::string(kind_of(r.value))));
    }
  };
  for (const Entry& r : entries(walk, e.value, e.value_pos, what)) {
    if (r.key == "threads") {
      if (auto v = read_int(walk, r, what + ".threads", 1, 1024)) {
        out.threads = static_cast<unsigned>(*v);
        if (positions) positions->threads = r.pos;
      }
    } else if (r.key == "max_threads") {
      if (auto v = read_int(walk, r, what + ".max_threads", 0, 1024)) {
        out.max_threads = static_cast<unsigned>(*v);
        if (positions) positions->max_threads = r.pos;
      }
    } else if (r.key == "memory" || r.key == "memory_mb") {
      read_memory(r, memory_key, out.memory_mb);
    } else if (r.key == "gpu_memory" || r.key == "gpu_memory_mb") {
      read_memory(r, gpu_memory_key, out.gpu_memory_mb);
    } else if (r.key == "gpus") {
      if (auto v = read_int(walk, r, what + ".gpus", 0, 64)) out.gpus = static_cast<unsigned>(*v);
    } else {
      unknown_key(walk, r, what, kKeys);
    }
  }
}

// A growing grant must start at or below its ceiling: reports threads > max_threads (when
// max_threads is set) at the key the stage (or workflow) set itself.
void check_grant(Walk& walk, const Resources& r, const ResourcePositions& set, Pos fallback,
                 std::string_view where) {
  if (r.max_threads == 0 || r.max_threads >= r.threads) return;
  const Pos at = set.max_threads ? *set.max_threads : set.threads ? *set.threads : fallback;
  walk.errors().add(at, std::string(where) + "resources.max_threads (" +
                            std::to_string(r.max_threads) + ") is less than threads (" +
                            std::to_string(r.threads) +
                            "): the grant starts at threads and grows up to max_threads; raise "
                            "max_threads, or lower threads");
}

// `cost: {core_hour: 0.04, gpu_hour: 2.5}`.
void read_cost(Walk& walk, const Entry& e, CostRates& out) {
  static const std::vector<std::string> kKeys = {"core_hour", "gpu_hour"};
  for (const Entry& r : entries(walk, e.value, e.value_pos, "cost")) {
    double* field = r.key == "core_hour"  ? &out.core_hour
                    : r.key == "gpu_hour" ? &out.gpu_hour
                                          : nullptr;
    if (!field) {
      unknown_key(walk, r, "cost", kKeys);
      continue;
    }
    double v = -1;
    if (r.value.IsScalar()) {
      const std::string& text = r.value.Scalar();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || end != text.data() + text.size()) v = -1;
    }
    if (std::isfinite(v) && v >= 0) {
      *field = v;
    } else {
      walk.errors().add(
          r.value_pos,
          "cost." + r.key + " must be a finite number >= 0 (a price per " +
              (r.key == "core_hour" ? "core" : "GPU") + " and hour), got " +
              (r.value.IsScalar() ? "'" + r.value.Scalar() + "'" : std::string(kind_of(r.value))));
    }
  }
}

bool is_stage_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  const auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!alpha(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9') || c == '-'; });
}

// --- Parameters -------------------------------------------------------------------------------

struct Given {
  std::string name;
  ParamValue value;
  Pos pos;
};
using GivenList = std::vector<Given>;

ParamType element_type(ParamType list) {
  switch (list) {
    case ParamType::kIntList: return ParamType::kInt;
    case ParamType::kDoubleList: return ParamType::kDouble;
    default: return ParamType::kString;
  }
}

bool is_list(ParamType t) {
  return t == ParamType::kIntList || t == ParamType::kDoubleList || t == ParamType::kStringList;
}

// One scalar of type `type` from a YAML scalar node; the error says what was expected.
Result<ParamValue> scalar_value(ParamType type, const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (type == ParamType::kString) return ParamValue(text);
  if (node.Tag() == "!") {
    return invalid_argument("expected " + std::string(to_string(type)) +
                            ", got the quoted string \"" + text + "\"; remove the quotes");
  }
  if (type == ParamType::kBool) {
    if (std::optional<bool> b = to_bool(text)) return ParamValue(*b);
    return invalid_argument("expected true or false, got '" + text + "'");
  }
  Result<ParamValue> value = parse_param(ParamSpec{.type = type}, text);
  if (!value && type == ParamType::kInt) {
    // 100.0 is an integer too (coerce() converts integral doubles).
    Result<ParamValue> number = parse_param(ParamSpec{.type = ParamType::kDouble}, text);
    if (number) {
      ParamValue converted = coerce(ParamSpec{.type = type}, *number);
      if (std::holds_alternative<std::int64_t>(converted)) return converted;
    }
  }
  return value;
}

// The parameter `spec` from `node`, converted by the declared type and checked; errors reported
// at the node as "<where>parameter 'name' ...".
std::optional<ParamValue> read_param(Walk& walk, const ParamSpec& spec, const YAML::Node& node,
                                     Pos at, const std::string& where) {
  const std::string prefix = where + "parameter '" + spec.name + "' ";
  const auto fail = [&](Pos p, const std::string& message) {
    walk.errors().add(p, prefix + message);
    return std::nullopt;
  };
  if (node.IsNull()) {
    return fail(at, std::string("has no value; give one") +
                        (spec.default_value ? " or remove it to use the default " +
                                                  trainflow::to_string(*spec.default_value)
                                            : ""));
  }
  ParamValue value;
  if (is_list(spec.type)) {
    if (!node.IsSequence()) {
      return fail(at, "expected " + std::string(to_string(spec.type)) + " like [a, b], got " +
                          kind_of(node));
    }
    const ParamType elem = element_type(spec.type);
    std::vector<ParamValue> items;
    bool ok = true;
    for_each_item(walk, node, at, [&](const YAML::Node& item, Pos p) {
      if (!ok) return;
      if (!item.IsScalar()) {
        fail(p, "expected " + std::string(to_string(spec.type)) + ", got an element that is " +
                    kind_of(item));
        ok = false;
        return;
      }
      Result<ParamValue> v = scalar_value(elem, item);
      if (!v) {
        fail(p, "element: " + v.error().message());
        ok = false;
        return;
      }
      items.push_back(std::move(*v));
    });
    if (!ok || walk.exhausted()) return std::nullopt;
    if (spec.type == ParamType::kStringList) {
      std::vector<std::string> out;
      for (ParamValue& v : items) out.push_back(std::get<std::string>(std::move(v)));
      value = std::move(out);
    } else if (spec.type == ParamType::kIntList) {
      std::vector<std::int64_t> out;
      for (const ParamValue& v : items) out.push_back(std::get<std::int64_t>(v));
      value = std::move(out);
    } else {
      std::vector<double> out;
      for (const ParamValue& v : items) {
        out.push_back(std::holds_alternative<double>(v)
                          ? std::get<double>(v)
                          : static_cast<double>(std::get<std::int64_t>(v)));
      }
      value = std::move(out);
    }
  } else {
    if (!node.IsScalar()) {
      return fail(at, "expected " + std::string(to_string(spec.type)) + ", got " + kind_of(node));
    }
    Result<ParamValue> v = scalar_value(spec.type, node);
    if (!v) return fail(at, v.error().message());
    value = std::move(*v);
  }
  value = coerce(spec, std::move(value));
  if (Status s = check_param(spec, value); !s.ok()) return fail(at, s.message());
  return value;
}

const ParamSpec* find_param(const StageType& type, std::string_view name) {
  for (const ParamSpec& spec : type.params) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string> param_names(const StageType& type) {
  std::vector<std::string> names;
  for (const ParamSpec& spec : type.params) names.push_back(spec.name);
  return names;
}

// Reads a mapping of parameters (`with`, one foreach item) into `out`.
void read_params(Walk& walk, const StageType& type, const YAML::Node& node, Pos at,
                 const std::string& where, std::string_view what, GivenList& out) {
  for (const Entry& e : entries(walk, node, at, what)) {
    const ParamSpec* spec = find_param(type, e.key);
    if (!spec) {
      walk.errors().add(e.pos, where + "unknown parameter '" + e.key + "' of " + type.name +
                                   did_you_mean(e.key, param_names(type)));
      continue;
    }
    if (auto v = read_param(walk, *spec, e.value, e.value_pos, where)) {
      out.push_back({e.key, std::move(*v), e.value_pos});
    }
  }
}

// --- Declarations -----------------------------------------------------------------------------

struct Ref {
  std::string stage;
  std::string output;  // empty: the first output
  Pos pos;
};

struct Binding {
  std::string port;  // empty: positional
  Pos port_pos;
  Ref ref;
};

struct Trial {
  GivenList params;
  std::string label;
};

struct StageDecl {
  std::string name;
  Pos pos;
  const StageType* type = nullptr;
  bool ok = true;  // false: its declaration has errors; it is not instantiated
  GivenList with;
  bool has_foreach = false;
  std::vector<Trial> trials;
  std::vector<Binding> needs;
  Pos needs_pos;
  GivenList overrides;
  StageSettings settings;
  bool retry_set = false;

  // Resolution.
  struct Input {
    std::string port;
    TypeId type;
    std::size_t upstream = 0;
    std::uint32_t output = 0;  // index in the upstream's instantiated outputs
    const ListType* gather = nullptr;
  };
  std::vector<Input> inputs;          // in the type's declaration order
  std::optional<std::size_t> origin;  // the sweep this stage belongs to (its own or joined)
  std::vector<std::string> instance_names;
  std::vector<StageSpec> specs;
  std::vector<GivenList> instance_params;
  bool resolved = false;
};

std::optional<Ref> parse_ref(Walk& walk, const YAML::Node& node, Pos at, const std::string& where) {
  if (!node.IsScalar()) {
    walk.errors().add(at,
                      where + "needs entries must be stage or stage.output, got " + kind_of(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  const std::size_t dot = text.find('.');
  Ref ref{text.substr(0, dot), dot == std::string::npos ? std::string() : text.substr(dot + 1), at};
  if (!is_stage_name(ref.stage) || (dot != std::string::npos && !is_stage_name(ref.output))) {
    walk.errors().add(
        at,
        where + "'" + text + "' is not a reference: write stage or stage.output, e.g. split.train");
    return std::nullopt;
  }
  return ref;
}

std::string value_label(const ParamValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return trainflow::to_string(v);
}

// Labels "l2=0.1,max_iter=100"; indices "0", "1", ... when labels would be ambiguous, long or
// hold characters that do not belong in a stage name.
void label_trials(std::vector<Trial>& trials) {
  std::set<std::string> seen;
  bool named = true;
  for (Trial& t : trials) {
    std::string label;
    for (const Given& g : t.params) {
      if (!label.empty()) label += ',';
      label += g.name + "=" + value_label(g.value);
    }
    const bool clean =
        !label.empty() && label.size() <= 96 && std::all_of(label.begin(), label.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '+' || c == '-' || c == '=' || c == ',';
        });
    if (!clean || !seen.insert(label).second) named = false;
    t.label = std::move(label);
  }
  if (!named) {
    for (std::size_t i = 0; i < trials.size(); ++i) trials[i].label = std::to_string(i);
  }
}

void read_foreach(Walk& walk, StageDecl& decl, const Entry& e, const std::string& where,
                  std::size_t max_stages) {
  decl.has_foreach = true;
  const StageType& type = *decl.type;
  if (e.value.IsSequence()) {
    for_each_item(walk, e.value, e.value_pos, [&](const YAML::Node& item, Pos p) {
      if (decl.trials.size() >= max_stages) return;
      Trial trial;
      read_params(walk, type, item, p, where, "a foreach item", trial.params);
      decl.trials.push_back(std::move(trial));
    });
    if (decl.trials.size() >= max_stages) {
      walk.errors().add(e.value_pos, where + "foreach has more than " + std::to_string(max_stages) +
                                         " items (LoadOptions::max_stages)");
      decl.ok = false;
    }
  } else if (e.value.IsMap()) {
    static const std::vector<std::string> kKeys = {"grid"};
    for (const Entry& g : entries(walk, e.value, e.value_pos, "foreach")) {
      if (g.key != "grid") {
        unknown_key(walk, g, "foreach (a list of parameter maps, or {grid: ...})", kKeys);
        decl.ok = false;
        continue;
      }
      std::vector<std::pair<std::string, std::vector<Given>>> axes;
      for (const Entry& axis : entries(walk, g.value, g.value_pos, "foreach.grid")) {
        const ParamSpec* spec = find_param(type, axis.key);
        if (!spec) {
          walk.errors().add(axis.pos, where + "unknown parameter '" + axis.key + "' of " +
                                          type.name + did_you_mean(axis.key, param_names(type)));
          decl.ok = false;
          continue;
        }
        if (!axis.value.IsSequence() || axis.value.size() == 0) {
          walk.errors().add(axis.value_pos,
                            where + "grid values of '" + axis.key +
                                "' must be a non-empty list of values, e.g. [0.1, 1, 10]");
          decl.ok = false;
          continue;
        }
        std::vector<Given> values;
        for_each_item(walk, axis.value, axis.value_pos, [&](const YAML::Node& item, Pos p) {
          if (auto v = read_param(walk, *spec, item, p, where)) {
            values.push_back({axis.key, std::move(*v), p});
          } else {
            decl.ok = false;
          }
        });
        axes.emplace_back(axis.key, std::move(values));
      }
      // The product, the last axis varying fastest.
      std::size_t count = 1;
      for (const auto& axis : axes) {
        if (axis.second.empty()) count = 0;
        if (count > max_stages / std::max<std::size_t>(axis.second.size(), 1)) {
          walk.errors().add(g.value_pos, where + "the grid has more than " +
                                             std::to_string(max_stages) +
                                             " combinations (LoadOptions::max_stages)");
          decl.ok = false;
          return;
        }
        count *= axis.second.size();
      }
      if (axes.empty()) count = 0;
      for (std::size_t i = 0; i < count; ++i) {
        Trial trial;
        std::size_t rest = i;
        std::vector<Given> picked(axes.size());
        for (std::size_t a = axes.size(); a-- > 0;) {
          picked[a] = axes[a].second[rest % axes[a].second.size()];
          rest /= axes[a].second.size();
        }
        trial.params = std::move(picked);
        decl.trials.push_back(std::move(trial));
      }
    }
  } else {
    walk.errors().add(e.value_pos, where +
                                       "foreach must be a list of parameter maps or "
                                       "{grid: {param: [values...]}}, got " +
                                       kind_of(e.value));
    decl.ok = false;
    return;
  }
  if (decl.trials.empty() && decl.ok) {
    walk.errors().add(e.value_pos, where + "foreach gives no trials; give at least one");
    decl.ok = false;
  }
  label_trials(decl.trials);
}

void read_needs(Walk& walk, StageDecl& decl, const Entry& e, const std::string& where) {
  decl.needs_pos = e.pos;
  if (e.value.IsScalar()) {
    if (auto ref = parse_ref(walk, e.value, e.value_pos, where))
      decl.needs.push_back({"", e.pos, *ref});
  } else if (e.value.IsSequence()) {
    for_each_item(walk, e.value, e.value_pos, [&](const YAML::Node& item, Pos p) {
      if (auto ref = parse_ref(walk, item, p, where)) decl.needs.push_back({"", p, *ref});
    });
  } else if (e.value.IsMap()) {
    for (const Entry& port : entries(walk, e.value, e.value_pos, "needs")) {
      if (auto ref = parse_ref(walk, port.value, port.value_pos, where)) {
        decl.needs.push_back({port.key, port.pos, *ref});
      }
    }
  } else {
    walk.errors().add(e.value_pos, where +
                                       "needs must be a stage, a list of stages or a mapping "
                                       "input: stage.output, got " +
                                       kind_of(e.value));
  }
}

StageDecl read_stage(Walk& walk, const StageRegistry& registry, const Entry& stage,
                     const Resources& defaults, std::size_t max_stages) {
  static const std::vector<std::string> kKeys = {"uses",  "needs",   "with",      "foreach",
                                                 "retry", "timeout", "resources", "cache"};
  StageDecl decl;
  decl.name = stage.key;
  decl.pos = stage.pos;
  decl.settings.resources = defaults;
  const std::string where = "stage '" + stage.key + "': ";
  const std::vector<Entry> keys =
      entries(walk, stage.value, stage.value_pos, "stage '" + stage.key + "'");
  if (!stage.value.IsMap()) {
    decl.ok = false;
    return decl;
  }
  const auto find = [&](std::string_view key) -> const Entry* {
    for (const Entry& e : keys) {
      if (e.key == key) return &e;
    }
    return nullptr;
  };
  for (const Entry& e : keys) {
    if (std::find(kKeys.begin(), kKeys.end(), e.key) == kKeys.end()) {
      unknown_key(walk, e, "stage '" + stage.key + "'", kKeys);
    }
  }
  if (const Entry* uses = find("uses")) {
    if (auto type = read_string(walk, *uses, where + "uses")) {
      decl.type = registry.find(*type);
      if (!decl.type)
        walk.errors().add(uses->value_pos, where + registry.unknown_type(*type).message());
    }
  } else {
    walk.errors().add(stage.pos, where +
                                     "no 'uses': name the stage type, e.g. uses: split "
                                     "(`trainflow stages` lists them)");
  }
  if (!decl.type) decl.ok = false;
  const std::string typed =
      decl.type ? "stage '" + stage.key + "' (" + decl.type->name + "): " : where;
  if (const Entry* with = find("with"); with && decl.type) {
    const std::size_t before = walk.errors().size();
    read_params(walk, *decl.type, with->value, with->value_pos, typed, "with", decl.with);
    if (walk.errors().size() != before) decl.ok = false;
  }
  if (const Entry* foreach = find("foreach"); foreach && decl.type) {
    const std::size_t before = walk.errors().size();
    read_foreach(walk, decl, *foreach, typed, max_stages);
    if (walk.errors().size() != before) decl.ok = false;
  }
  if (const Entry* needs = find("needs")) read_needs(walk, decl, *needs, typed);
  if (const Entry* e = find("retry")) {
    if (auto v = read_int(walk, *e, where + "retry", 0, 100))
      decl.settings.retry = static_cast<unsigned>(*v);
  }
  if (const Entry* e = find("timeout")) {
    std::optional<std::chrono::milliseconds> d;
    if (e->value.IsScalar()) d = parse_duration(e->value.Scalar());
    if (d) {
      decl.settings.timeout = d;
    } else {
      walk.errors().add(e->value_pos, where +
                                          "timeout must be a duration from 1ms to 7 days such as "
                                          "30s, 5m, 2h, 250ms, or a number of seconds; got " +
                                          (e->value.IsScalar() ? "'" + e->value.Scalar() + "'"
                                                               : std::string(kind_of(e->value))));
    }
  }
  ResourcePositions set;
  if (const Entry* e = find("resources")) {
    read_resources(walk, *e, "stage '" + stage.key + "'", decl.settings.resources, &set);
  }
  if (decl.type && decl.type->numerics_depend_on_threads &&
      decl.settings.resources.max_threads != 0) {
    if (set.max_threads) {
      walk.errors().add(*set.max_threads,
                        typed + "resources.max_threads: the results of " + decl.type->name +
                            " depend on its thread count, so its grant cannot grow while it "
                            "runs; remove max_threads (threads fixes its grant)");
    }
    decl.settings.resources.max_threads = 0;  // a workflow-wide default skips it
  }
  // A default that does not fit is reported once, at the workflow's resources.
  if (set.threads || set.max_threads) {
    check_grant(walk, decl.settings.resources, set, stage.pos, typed);
  }
  if (const Entry* e = find("cache")) {
    if (auto v = read_bool(walk, *e, where + "cache")) decl.settings.cache = *v;
  }
  return decl;
}

// Applies "stage.param=value" overrides.
void read_overrides(Errors& errors, std::span<const std::string> overrides,
                    std::vector<StageDecl>& decls) {
  std::vector<std::string> names;
  for (const StageDecl& d : decls) names.push_back(d.name);
  for (const std::string& text : overrides) {
    const std::string where = "--set '" + text + "': ";
    const std::size_t eq = text.find('=');
    const std::size_t dot = text.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 ||
        dot + 1 == eq) {
      errors.add_plain(where + "expected stage.param=value, e.g. train.l2=0.5");
      continue;
    }
    const std::string stage = text.substr(0, dot);
    const std::string param = text.substr(dot + 1, eq - dot - 1);
    const auto decl = std::find_if(decls.begin(), decls.end(),
                                   [&](const StageDecl& d) { return d.name == stage; });
    if (decl == decls.end()) {
      errors.add_plain(where + "no stage '" + stage + "' in the workflow" +
                       did_you_mean(stage, names));
      continue;
    }
    if (!decl->type) continue;  // reported where the stage is declared
    const ParamSpec* spec = find_param(*decl->type, param);
    if (!spec) {
      errors.add_plain(where + "unknown parameter '" + param + "' of " + decl->type->name +
                       did_you_mean(param, param_names(*decl->type)));
      continue;
    }
    Result<ParamValue> value = parse_param(*spec, std::string_view(text).substr(eq + 1));
    if (value) {
      *value = coerce(*spec, std::move(*value));
      if (Status s = check_param(*spec, *value); !s.ok()) value = std::move(s);
    }
    if (!value) {
      errors.add_plain(where + "parameter '" + param + "' of " + decl->type->name + " " +
                       value.error().message());
      continue;
    }
    decl->overrides.push_back({param, std::move(*value), {}});
  }
}

// `base`, then `over` replacing or adding by name.
GivenList merge(GivenList base, const GivenList& over) {
  for (const Given& g : over) {
    auto it =
        std::find_if(base.begin(), base.end(), [&](const Given& b) { return b.name == g.name; });
    if (it != base.end()) {
      it->value = g.value;
    } else {
      base.push_back(g);
    }
  }
  return base;
}

// --- The gather stage --------------------------------------------------------------------------

class GatherBody final : public StageBody {
 public:
  explicit GatherBody(std::function<Value(std::span<const Value>)> gather)
      : gather_(std::move(gather)) {}
  void invoke(StageCall& call) override {
    std::vector<Value> values;
    values.reserve(call.num_inputs());
    for (std::uint32_t i = 0; i < call.num_inputs(); ++i) values.push_back(call.input(i));
    call.set_output(0, gather_(values));
  }

 private:
  std::function<Value(std::span<const Value>)> gather_;
};

// --- Resolution ---------------------------------------------------------------------------------

class Loader {
 public:
  Loader(const StageRegistry& registry, const LoadOptions& options, Errors& errors)
      : registry_(registry), options_(options), errors_(errors) {
    lists_ = {list_type<ml::Dataset>(), list_type<ml::ModelPtr>(), list_type<ml::Metrics>()};
    lists_.insert(lists_.end(), options.list_types.begin(), options.list_types.end());
  }

  void resolve(std::vector<StageDecl>& decls) {
    decls_ = &decls;
    for (std::size_t i = 0; i < decls.size(); ++i) index_.emplace(decls[i].name, i);
    for (const StageDecl& d : decls) names_.push_back(d.name);
    const std::vector<std::size_t> order = topological_order();
    for (std::size_t i : order) resolve_stage(i);
  }

  Result<Workflow> build(Workflow wf) {
    std::vector<StageDecl>& decls = *decls_;
    std::size_t total = 0;
    for (const StageDecl& d : decls) total += d.specs.size();
    if (total > options_.max_stages) {
      errors_.add({1, 1}, "the workflow expands to " + std::to_string(total) +
                              " stages, more than LoadOptions::max_stages (" +
                              std::to_string(options_.max_stages) + ")");
      return errors_.status();
    }
    std::vector<std::vector<StageId>> ids(decls.size());
    wf.graph = Graph(wf.name);
    // Stages in file order, trials in sweep order; each gather stage right before its consumer.
    struct Edge {
      PortRef from;
      PortRef to;
    };
    std::vector<Edge> edges;
    const auto add = [&](StageSpec spec, WorkflowStage info) {
      const StageId id = wf.graph.add_stage(std::move(spec));
      info.id = id;
      wf.ids.emplace(info.name, id);
      wf.stages.push_back(std::move(info));
      return id;
    };
    for (std::size_t s : order_) {
      StageDecl& d = decls[s];
      for (std::size_t k = 0; k < d.specs.size(); ++k) {
        std::vector<std::pair<PortRef, std::uint32_t>> pending;  // (from, to port)
        for (std::uint32_t p = 0; p < d.inputs.size(); ++p) {
          const StageDecl::Input& in = d.inputs[p];
          const std::vector<StageId>& up = ids[in.upstream];
          if (in.gather) {
            StageSpec gather;
            gather.name = "gather(" + d.instance_names[k] + "." + in.port + ")";
            gather.kind = "gather";
            for (std::size_t j = 0; j < up.size(); ++j) {
              gather.inputs.push_back({"in" + std::to_string(j), in.gather->element});
            }
            gather.outputs.push_back({"list", in.gather->list});
            gather.body = std::make_shared<GatherBody>(in.gather->gather);
            WorkflowStage info;
            info.name = gather.name;
            info.group = d.name;
            info.type = "gather";
            const StageId g = add(std::move(gather), std::move(info));
            for (std::size_t j = 0; j < up.size(); ++j) {
              edges.push_back({{up[j], in.output}, {g, static_cast<std::uint32_t>(j)}});
            }
            pending.push_back({{g, 0}, p});
          } else {
            const StageId from = up.size() == 1 ? up[0] : up[k];
            pending.push_back({{from, in.output}, p});
          }
        }
        WorkflowStage info;
        info.name = d.instance_names[k];
        info.group = d.name;
        info.type = d.type->name;
        if (d.origin) info.trial = k;
        info.settings = d.settings;
        info.line = d.pos.line;
        info.column = d.pos.column;
        const StageId id = add(std::move(d.specs[k]), std::move(info));
        ids[s].push_back(id);
        for (const auto& [from, port] : pending) edges.push_back({from, {id, port}});
      }
      wf.groups.emplace(d.name, ids[s]);
    }
    for (const Edge& e : edges) wf.graph.connect(e.from, e.to);
    if (Status s = wf.graph.validate(); !s.ok()) {
      errors_.add({1, 1},
                  "internal error, the loaded graph is invalid (please report): " + s.message());
      return errors_.status();
    }
    return wf;
  }

  // Params of stage i's instance k, as instantiated (for WorkflowStage::params).
  const std::vector<std::size_t>& order() const { return order_; }

 private:
  StageDecl& decl(std::size_t i) { return (*decls_)[i]; }

  std::optional<std::size_t> lookup(const Ref& ref, const StageDecl& from) {
    auto it = index_.find(ref.stage);
    if (it == index_.end()) {
      errors_.add(ref.pos, stage_where(from) + "needs unknown stage '" + ref.stage + "'" +
                               did_you_mean(ref.stage, names_));
      return std::nullopt;
    }
    return it->second;
  }

  static std::string stage_where(const StageDecl& d) {
    return "stage '" + d.name + "'" + (d.type ? " (" + d.type->name + ")" : std::string()) + ": ";
  }

  // Kahn's algorithm over the file's stages; stages on or behind a cycle are left out, and each
  // cycle is reported once, printed.
  std::vector<std::size_t> topological_order() {
    std::vector<StageDecl>& decls = *decls_;
    const std::size_t n = decls.size();
    std::vector<std::vector<std::size_t>> preds(n), succs(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (const Binding& b : decls[i].needs) {
        if (auto it = index_.find(b.ref.stage); it != index_.end()) {
          preds[i].push_back(it->second);
          succs[it->second].push_back(i);
        }
      }
    }
    std::vector<std::size_t> indegree(n);
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < n; ++i) {
      indegree[i] = preds[i].size();
      if (indegree[i] == 0) ready.push_back(i);
    }
    // Smallest index first, so the order follows the file where the graph allows.
    std::set<std::size_t> queue(ready.begin(), ready.end());
    while (!queue.empty()) {
      const std::size_t i = *queue.begin();
      queue.erase(queue.begin());
      order_.push_back(i);
      for (std::size_t s : succs[i]) {
        if (--indegree[s] == 0) queue.insert(s);
      }
    }
    std::vector<bool> reported(n, false);
    for (std::size_t start = 0; start < n; ++start) {
      if (indegree[start] == 0 || reported[start]) continue;
      // Walk back along unfinished predecessors until a stage repeats: that is a cycle.
      std::vector<std::size_t> path;
      std::vector<std::size_t> at(n, static_cast<std::size_t>(-1));
      std::size_t u = start;
      while (at[u] == static_cast<std::size_t>(-1)) {
        at[u] = path.size();
        path.push_back(u);
        const auto next = std::find_if(preds[u].begin(), preds[u].end(),
                                       [&](std::size_t p) { return indegree[p] != 0; });
        u = *next;  // an unfinished stage always has an unfinished predecessor
      }
      std::vector<std::size_t> cycle(path.begin() + static_cast<std::ptrdiff_t>(at[u]), path.end());
      bool seen = false;
      for (std::size_t c : cycle) seen = seen || reported[c];
      for (std::size_t c : path) reported[c] = true;
      if (seen) continue;
      // Print in the direction data flows: each stage needs the one before it.
      std::reverse(cycle.begin(), cycle.end());
      const auto first = std::min_element(cycle.begin(), cycle.end());
      std::rotate(cycle.begin(), first, cycle.end());
      std::string text;
      for (std::size_t c : cycle) text += decls[c].name + " -> ";
      text += decls[cycle.front()].name;
      const StageDecl& d = decls[cycle.front()];
      errors_.add(d.needs.empty() ? d.pos : d.needs_pos,
                  "cycle: " + text + " (each stage needs the next); remove one of these needs");
    }
    return order_;
  }

  void resolve_stage(std::size_t i) {
    StageDecl& d = decl(i);
    if (!d.type) {
      // Still check that what it needs exists.
      for (const Binding& b : d.needs) (void)lookup(b.ref, d);
      return;
    }
    const StageType& type = *d.type;
    const std::string where = stage_where(d);
    std::vector<std::string> input_names;
    for (const PortDecl& p : type.inputs) input_names.push_back(p.name);

    // Port -> binding.
    std::vector<const Binding*> bound(type.inputs.size(), nullptr);
    std::size_t positional = 0;
    bool ok = d.ok;
    for (const Binding& b : d.needs) {
      std::size_t port = 0;
      if (b.port.empty()) {
        if (positional >= type.inputs.size()) {
          errors_.add(b.ref.pos,
                      where + "takes " + std::to_string(type.inputs.size()) + " input(s)" +
                          (input_names.empty() ? std::string() : " (" + join(input_names) + ")") +
                          ", but needs lists more");
          ok = false;
          continue;
        }
        port = positional++;
      } else {
        const auto it = std::find(input_names.begin(), input_names.end(), b.port);
        if (it == input_names.end()) {
          errors_.add(b.port_pos,
                      where + "has no input '" + b.port + "'" + did_you_mean(b.port, input_names));
          ok = false;
          continue;
        }
        port = static_cast<std::size_t>(it - input_names.begin());
        if (bound[port]) {
          errors_.add(b.port_pos, where + "input '" + b.port + "' is bound twice");
          ok = false;
          continue;
        }
      }
      bound[port] = &b;
    }
    for (std::size_t p = 0; p < type.inputs.size(); ++p) {
      if (!bound[p] && !type.inputs[p].optional) {
        errors_.add(d.needs.empty() ? d.pos : d.needs_pos,
                    where + "input '" + type.inputs[p].name + "' (" +
                        registry_.type_name(type.inputs[p].type) +
                        ") is not bound; add it to needs, e.g. needs: {" + type.inputs[p].name +
                        ": <stage>.<output>}");
        ok = false;
      }
    }

    // Each bound port: the upstream output, its type, and join or gather.
    std::vector<std::string> optional_inputs;
    std::set<std::size_t> joined;  // sweeps joined through same-typed inputs
    for (std::size_t p = 0; p < type.inputs.size(); ++p) {
      if (!bound[p]) continue;
      const Binding& b = *bound[p];
      if (type.inputs[p].optional) optional_inputs.push_back(type.inputs[p].name);
      const std::optional<std::size_t> up_index = lookup(b.ref, d);
      if (!up_index) {
        ok = false;
        continue;
      }
      StageDecl& up = decl(*up_index);
      if (!up.resolved) {  // its own errors are reported where it is declared
        ok = false;
        continue;
      }
      const StageSpec& made = up.specs.front();
      std::uint32_t out = 0;
      if (b.ref.output.empty()) {
        if (made.outputs.empty()) {
          errors_.add(b.ref.pos, where + "stage '" + up.name + "' has no outputs to need");
          ok = false;
          continue;
        }
      } else {
        const auto it = std::find_if(made.outputs.begin(), made.outputs.end(),
                                     [&](const PortSpec& s) { return s.name == b.ref.output; });
        if (it == made.outputs.end()) {
          std::vector<std::string> outs;
          for (const PortDecl& o : up.type->outputs) outs.push_back(o.name);
          const bool declared = std::find(outs.begin(), outs.end(), b.ref.output) != outs.end();
          errors_.add(b.ref.pos, where + "stage '" + up.name + "' (" + up.type->name + ") " +
                                     (declared ? "produces output '" + b.ref.output +
                                                     "' only when the matching optional input is "
                                                     "bound; add it to that stage's needs"
                                               : "has no output '" + b.ref.output + "'" +
                                                     did_you_mean(b.ref.output, outs)));
          ok = false;
          continue;
        }
        out = static_cast<std::uint32_t>(it - made.outputs.begin());
      }
      const TypeId out_type = made.outputs[out].type;
      const TypeId in_type = type.inputs[p].type;
      StageDecl::Input input{type.inputs[p].name, in_type, *up_index, out, nullptr};
      if (in_type != out_type) {
        const auto list = std::find_if(lists_.begin(), lists_.end(), [&](const ListType& l) {
          return l.list == in_type && l.element == out_type;
        });
        if (list == lists_.end()) {
          errors_.add(b.ref.pos, where + "input '" + type.inputs[p].name + "' takes " +
                                     registry_.type_name(in_type) + " but '" + up.name + "." +
                                     made.outputs[out].name + "' is " +
                                     registry_.type_name(out_type) +
                                     "; need an output of that type");
          ok = false;
          continue;
        }
        input.gather = &*list;
      } else if (up.origin) {
        joined.insert(*up.origin);
      }
      d.inputs.push_back(input);
    }
    if (joined.size() > 1) {
      errors_.add(d.needs_pos, where + "joins the sweeps of '" + decl(*joined.begin()).name +
                                   "' and '" + decl(*std::next(joined.begin())).name +
                                   "'; a stage may follow one sweep (cross products are not "
                                   "supported)");
      ok = false;
    }
    if (d.has_foreach && !joined.empty()) {
      errors_.add(d.needs_pos, where + "has its own foreach but also follows the sweep of '" +
                                   decl(*joined.begin()).name +
                                   "'; nested sweeps are not supported");
      ok = false;
    }
    if (!ok) return;

    // Instances: one, one per own trial, or one per trial of the sweep it follows.
    std::vector<GivenList> params;
    if (d.has_foreach) {
      d.origin = i;
      for (const Trial& t : d.trials) {
        params.push_back(merge(merge(d.with, t.params), d.overrides));
        d.instance_names.push_back(d.name + "[" + t.label + "]");
      }
    } else if (!joined.empty()) {
      d.origin = *joined.begin();
      for (const Trial& t : decl(*d.origin).trials) {
        params.push_back(merge(d.with, d.overrides));
        d.instance_names.push_back(d.name + "[" + t.label + "]");
      }
    } else {
      params.push_back(merge(d.with, d.overrides));
      d.instance_names.push_back(d.name);
    }
    // Required parameters given everywhere?
    for (const ParamSpec& spec : type.params) {
      if (spec.default_value) continue;
      for (const GivenList& g : params) {
        if (std::none_of(g.begin(), g.end(), [&](const Given& x) { return x.name == spec.name; })) {
          errors_.add(d.pos, where + "missing required parameter '" + spec.name + "' (" +
                                 std::string(to_string(spec.type)) + ": " + spec.doc +
                                 "); add it under with");
          ok = false;
          break;
        }
      }
    }
    if (!ok) return;
    for (std::size_t k = 0; k < params.size(); ++k) {
      std::vector<std::pair<std::string, ParamValue>> given;
      for (const Given& g : params[k]) given.emplace_back(g.name, g.value);
      Result<StageSpec> spec =
          registry_.instantiate(type.name, d.instance_names[k], std::move(given), optional_inputs);
      if (!spec) {
        errors_.add(d.pos, where + spec.error().message());
        return;
      }
      const Resources& r = d.settings.resources;
      spec->threads = r.threads;
      spec->resources = {.max_threads = r.max_threads,
                         .memory_bytes = r.memory_mb << 20,
                         .gpus = r.gpus,
                         .gpu_memory_bytes = r.gpu_memory_mb << 20};
      spec->retry = stage_retry_policy(d.settings);
      spec->timeout = d.settings.timeout;
      d.specs.push_back(std::move(*spec));
    }
    d.instance_params = std::move(params);
    d.resolved = true;
  }

  static std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
    return out;
  }

  const StageRegistry& registry_;
  const LoadOptions& options_;
  Errors& errors_;
  std::vector<ListType> lists_;
  std::vector<StageDecl>* decls_ = nullptr;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<std::string> names_;
  std::vector<std::size_t> order_;
};

}  // namespace

const WorkflowStage* Workflow::find(std::string_view stage_name) const {
  const auto it = ids.find(stage_name);
  return it == ids.end() ? nullptr : &stages[it->second];
}

Result<Workflow> parse_workflow(std::string_view text, std::string_view file_name,
                                const LoadOptions& options) {
  const StageRegistry& registry = options.registry ? *options.registry : default_registry();
  Errors errors(std::string(file_name), std::max<std::size_t>(options.max_errors, 1));

  if (std::optional<detail::ScanError> scan =
          detail::prescan(text, {.max_bytes = options.max_file_bytes,
                                 .max_depth = options.max_depth,
                                 .max_nodes = options.max_nodes})) {
    errors.add({scan->line, scan->column}, std::move(scan->message));
    return errors.status();
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.add({e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    return errors.status();
  } catch (const std::exception& e) {
    errors.add({1, 1}, std::string("cannot parse the file: ") + e.what());
    return errors.status();
  }

  Workflow wf;
  wf.name = std::filesystem::path(std::string(file_name)).stem().string();
  Walk walk(errors, options.max_nodes);
  const Pos top{1, 1};
  if (!root.IsMap()) {
    errors.add(pos_of(root, top), std::string("a workflow file is a mapping with name, seed, "
                                              "resources and stages; got ") +
                                      kind_of(root));
    return errors.status();
  }
  walk.visit(root, top);
  static const std::vector<std::string> kTopKeys = {"name", "seed", "resources", "cost", "stages"};
  const std::vector<Entry> keys = entries(walk, root, top, "the workflow");
  const Entry* stages = nullptr;
  for (const Entry& e : keys) {
    if (e.key == "name") {
      if (auto v = read_string(walk, e, "name")) wf.name = *v;
    } else if (e.key == "seed") {
      if (auto v = read_int(walk, e, "seed", 0, std::numeric_limits<std::int64_t>::max())) {
        wf.seed = static_cast<std::uint64_t>(*v);
      }
    } else if (e.key == "resources") {
      ResourcePositions set;
      read_resources(walk, e, "the workflow's", wf.resources, &set);
      check_grant(walk, wf.resources, set, e.pos, "the workflow's ");
    } else if (e.key == "cost") {
      CostRates rates;
      read_cost(walk, e, rates);
      wf.cost = rates;
    } else if (e.key == "stages") {
      stages = &e;
    } else if (e.key.starts_with("x-")) {
      // Extension keys hold anchors (&name) for the stages to use; not read otherwise.
    } else {
      unknown_key(walk, e, "the workflow", kTopKeys);
    }
  }
  std::vector<StageDecl> decls;
  if (!stages) {
    errors.add(top, "no 'stages': a workflow lists its stages under stages:");
  } else {
    const std::vector<Entry> list = entries(walk, stages->value, stages->value_pos, "stages");
    if (stages->value.IsMap() && list.empty() && !walk.exhausted()) {
      errors.add(stages->value_pos, "stages is empty; add at least one stage");
    }
    for (const Entry& stage : list) {
      if (walk.exhausted()) break;
      if (!is_stage_name(stage.key)) {
        errors.add(stage.pos, "'" + stage.key +
                                  "' is not a stage name: use letters, digits, '_' and '-', "
                                  "starting with a letter or '_' (at most 128)");
        continue;
      }
      decls.push_back(read_stage(walk, registry, stage, wf.resources, options.max_stages));
    }
  }
  if (walk.exhausted()) return errors.status();  // the rest would be noise
  read_overrides(errors, options.overrides, decls);

  Loader loader(registry, options, errors);
  loader.resolve(decls);
  if (!errors.empty()) return errors.status();
  Result<Workflow> built = loader.build(std::move(wf));
  if (!built) return built;
  // Parameters of each stage as bound.
  for (WorkflowStage& s : built->stages) {
    if (s.type == "gather") continue;
    const auto d = std::find_if(decls.begin(), decls.end(),
                                [&](const StageDecl& x) { return x.name == s.group; });
    const std::size_t k =
        s.trial ? *s.trial
                : static_cast<std::size_t>(
                      std::find(d->instance_names.begin(), d->instance_names.end(), s.name) -
                      d->instance_names.begin());
    std::vector<std::pair<std::string, ParamValue>> given;
    for (const Given& g : d->instance_params[k]) given.emplace_back(g.name, g.value);
    Result<Params> p = bind_params(d->type->params, std::move(given), d->type->name);
    if (p) s.params = std::move(*p);
  }
  return built;
}

Result<Workflow> load_workflow(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return not_found("cannot read workflow file '" + path.string() + "': " + ec.message() +
                     "; check the path");
  }
  if (size > options.max_file_bytes) {
    return invalid_argument(path.string() + ":1:1: the file is " + std::to_string(size) +
                            " bytes, more than the " + std::to_string(options.max_file_bytes) +
                            " a workflow file may have (LoadOptions::max_file_bytes); a workflow "
                            "file names stages, it does not hold data");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    return not_found("cannot read workflow file '" + path.string() + "'; check its permissions");
  }
  return parse_workflow(text.str(), path.string(), options);
}

}  // namespace trainflow::config
