#include "trainflow/registry/registry.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace trainflow {

// Registers trainflow's built-in stage types (src/ml/stages.cpp).
void register_builtin_stages(StageRegistry& registry);

namespace {

bool is_snake_case(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status check_ports(const StageType& type, const std::vector<PortDecl>& ports,
                   std::string_view what) {
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const std::string where =
        "stage type '" + type.name + "': " + std::string(what) + " '" + ports[i].name + "'";
    if (!is_snake_case(ports[i].name)) {
      return invalid_argument(where + " is not lower_snake_case ([a-z][a-z0-9_]*)");
    }
    if (ports[i].type == TypeId{}) return invalid_argument(where + " has no type");
    for (std::size_t j = 0; j < i; ++j) {
      if (ports[j].name == ports[i].name) return invalid_argument(where + " is declared twice");
    }
  }
  return ok_status();
}

Status check_type(const StageType& type) {
  if (!is_snake_case(type.name)) {
    return invalid_argument("stage type '" + type.name +
                            "': the name is not lower_snake_case ([a-z][a-z0-9_]*)");
  }
  if (!type.make) return invalid_argument("stage type '" + type.name + "': make is empty");
  for (std::size_t i = 0; i < type.params.size(); ++i) {
    const ParamSpec& spec = type.params[i];
    const std::string where = "stage type '" + type.name + "': parameter '" + spec.name + "'";
    if (!is_snake_case(spec.name)) {
      return invalid_argument(where + " is not lower_snake_case ([a-z][a-z0-9_]*)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (type.params[j].name == spec.name) return invalid_argument(where + " is declared twice");
    }
    if (spec.default_value) {
      if (Status status = check_param(spec, *spec.default_value); !status.ok()) {
        return invalid_argument(where + ": its default " + status.message());
      }
    }
  }
  if (Status status = check_ports(type, type.inputs, "input"); !status.ok()) return status;
  return check_ports(type, type.outputs, "output");
}

// Ok when `spec`'s ports are what `type` promised for these inputs.
Status check_made(const StageType& type, const StageSpec& spec,
                  std::span<const std::string> inputs) {
  const std::string where = "stage type '" + type.name + "' broke its contract: ";
  if (!spec.body) return internal_error(where + "make() returned no body");
  if (spec.inputs.size() != inputs.size()) {
    return internal_error(where + "make() returned " + std::to_string(spec.inputs.size()) +
                          " inputs for " + std::to_string(inputs.size()) + " bound");
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto decl = std::find_if(type.inputs.begin(), type.inputs.end(),
                                   [&](const PortDecl& d) { return d.name == inputs[i]; });
    if (spec.inputs[i].name != inputs[i] || decl == type.inputs.end() ||
        decl->type != spec.inputs[i].type) {
      return internal_error(where + "input " + std::to_string(i) + " is '" + spec.inputs[i].name +
                            "' of another type or name than declared '" + inputs[i] + "'");
    }
  }
  std::size_t next = 0;
  for (const PortSpec& port : spec.outputs) {
    while (next < type.outputs.size() && type.outputs[next].name != port.name) {
      if (!type.outputs[next].optional) {
        return internal_error(where + "required output '" + type.outputs[next].name +
                              "' is missing");
      }
      ++next;
    }
    if (next == type.outputs.size() || type.outputs[next].type != port.type) {
      return internal_error(where + "output '" + port.name +
                            "' is undeclared, out of order, or of another type");
    }
    ++next;
  }
  for (; next < type.outputs.size(); ++next) {
    if (!type.outputs[next].optional) {
      return internal_error(where + "required output '" + type.outputs[next].name + "' is missing");
    }
  }
  return ok_status();
}

}  // namespace

StageRegistry::StageRegistry() = default;
StageRegistry::~StageRegistry() = default;

Status StageRegistry::add(StageType type) {
  if (Status status = check_type(type); !status.ok()) return status;
  std::lock_guard lock(mutex_);
  for (const StageType& existing : types_) {
    if (existing.name == type.name) {
      return already_exists("stage type '" + type.name +
                            "' is already registered; choose another name");
    }
  }
  types_.push_back(std::move(type));
  return ok_status();
}

const StageType* StageRegistry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (const StageType& type : types_) {
    if (type.name == name) return &type;
  }
  return nullptr;
}

std::vector<const StageType*> StageRegistry::types() const {
  std::vector<const StageType*> out;
  {
    std::lock_guard lock(mutex_);
    for (const StageType& type : types_) out.push_back(&type);
  }
  std::sort(out.begin(), out.end(),
            [](const StageType* a, const StageType* b) { return a->name < b->name; });
  return out;
}

Status StageRegistry::unknown_type(std::string_view name) const {
  std::vector<std::string> names;
  for (const StageType* type : types()) names.push_back(type->name);
  std::string message = "unknown stage type '" + std::string(name) + "'";
  if (std::optional<std::string> near = closest_match(name, names)) {
    message += "; did you mean '" + *near + "'?";
  } else {
    message += "; `trainflow stages` lists the known types";
  }
  return not_found(std::move(message));
}

Result<StageSpec> StageRegistry::instantiate(std::string_view type_name, std::string stage_name,
                                             std::vector<std::pair<std::string, ParamValue>> params,
                                             std::span<const std::string> optional_inputs) const {
  const StageType* type = find(type_name);
  if (!type) return unknown_type(type_name);
  std::vector<std::string> inputs;
  for (const std::string& name : optional_inputs) {
    const auto decl = std::find_if(type->inputs.begin(), type->inputs.end(),
                                   [&](const PortDecl& d) { return d.name == name; });
    if (decl == type->inputs.end() || !decl->optional) {
      std::vector<std::string> optional;
      for (const PortDecl& d : type->inputs) {
        if (d.optional) optional.push_back(d.name);
      }
      std::string message = "stage '" + stage_name + "' (" + type->name + "): '" + name +
                            "' is not an optional input of this type";
      if (std::optional<std::string> near = closest_match(name, optional)) {
        message += "; did you mean '" + *near + "'?";
      }
      return not_found(std::move(message));
    }
  }
  for (const PortDecl& decl : type->inputs) {
    if (!decl.optional || std::find(optional_inputs.begin(), optional_inputs.end(), decl.name) !=
                              optional_inputs.end()) {
      inputs.push_back(decl.name);
    }
  }
  Result<Params> bound = bind_params(type->params, std::move(params), type->name);
  if (!bound) return std::move(bound).error();
  Result<StageSpec> spec = type->make(*bound, inputs);
  if (!spec) {
    return Status(spec.error().code(),
                  "stage '" + stage_name + "' (" + type->name + "): " + spec.error().message());
  }
  if (Status status = check_made(*type, *spec, inputs); !status.ok()) return status;
  spec->name = std::move(stage_name);
  if (spec->kind.empty()) spec->kind = type->name;
  spec->cache_identity =
      type->name + "@" + std::to_string(type->version) + "(" + bound->canonical() + ")";
  spec->numerics_depend_on_threads = type->numerics_depend_on_threads;
  return spec;
}

void StageRegistry::name_type(TypeId type, std::string name) {
  std::lock_guard lock(mutex_);
  for (auto& [id, existing] : type_names_) {
    if (id == type) {
      existing = std::move(name);
      return;
    }
  }
  type_names_.emplace_back(type, std::move(name));
}

std::string StageRegistry::type_name(TypeId type) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, name] : type_names_) {
    if (id == type) return name;
  }
  return std::string(type.name());
}

void StageRegistry::add_codec(TypeId type, Codec codec) {
  auto shared = std::make_shared<const Codec>(std::move(codec));
  std::lock_guard lock(mutex_);
  for (auto& [id, existing] : codecs_) {
    if (id == type) {
      existing = std::move(shared);
      return;
    }
  }
  codecs_.emplace_back(type, std::move(shared));
}

std::shared_ptr<const Codec> StageRegistry::codec(TypeId type) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, codec] : codecs_) {
    if (id == type) return codec;
  }
  return nullptr;
}

StageRegistry& default_registry() {
  static StageRegistry* const registry = [] {
    auto* r = new StageRegistry();
    register_builtin_stages(*r);
    return r;
  }();
  return *registry;
}

}  // namespace trainflow
