// `trainflow stages`: every registered stage type with its ports and parameters.
#include "stages_command.hpp"

#include "command.hpp"

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "trainflow/registry/registry.hpp"

namespace trainflow::cli {
namespace {

std::string default_text(const ParamSpec& p) {
  return p.default_value ? to_string(*p.default_value) : std::string("required");
}

std::string constraint_text(const ParamSpec& p) {
  std::string out;
  const auto number = [](double v) {
    std::string s = to_string(ParamValue(v));
    if (s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
    return s;
  };
  if (p.min && p.max) {
    out = "[" + number(*p.min) + ", " + number(*p.max) + "]";
  } else if (p.min) {
    out = ">= " + number(*p.min);
  } else if (p.max) {
    out = "<= " + number(*p.max);
  }
  if (!p.choices.empty()) {
    for (std::size_t i = 0; i < p.choices.size(); ++i) out += (i ? " | " : "") + p.choices[i];
  }
  return out;
}

nlohmann::json port_json(const PortDecl& d) {
  return {{"name", d.name},
          {"type", default_registry().type_name(d.type)},
          {"doc", d.doc},
          {"optional", d.optional}};
}

void print_json(const std::vector<const StageType*>& types) {
  nlohmann::json out = nlohmann::json::array();
  for (const StageType* t : types) {
    nlohmann::json params = nlohmann::json::array();
    for (const ParamSpec& p : t->params) {
      nlohmann::json j = {{"name", p.name},
                          {"type", std::string(to_string(p.type))},
                          {"doc", p.doc},
                          {"required", !p.default_value.has_value()}};
      if (p.default_value) j["default"] = to_string(*p.default_value);
      if (p.min) j["min"] = *p.min;
      if (p.max) j["max"] = *p.max;
      if (!p.choices.empty()) j["choices"] = p.choices;
      params.push_back(std::move(j));
    }
    nlohmann::json inputs = nlohmann::json::array();
    for (const PortDecl& d : t->inputs) inputs.push_back(port_json(d));
    nlohmann::json outputs = nlohmann::json::array();
    for (const PortDecl& d : t->outputs) outputs.push_back(port_json(d));
    out.push_back({{"name", t->name},
                   {"doc", t->doc},
                   {"version", t->version},
                   {"inputs", std::move(inputs)},
                   {"outputs", std::move(outputs)},
                   {"params", std::move(params)}});
  }
  std::cout << out.dump(2) << "\n";
}

std::string ports_text(const std::vector<PortDecl>& ports) {
  if (ports.empty()) return "(none)";
  std::string out;
  for (const PortDecl& d : ports) {
    if (!out.empty()) out += ", ";
    out += d.name + (d.optional ? "?" : "") + ": " + default_registry().type_name(d.type);
  }
  return out;
}

void print_markdown(const std::vector<const StageType*>& types) {
  std::cout << "# Stage types\n\n"
               "Every stage type built into trainflow, as `trainflow stages --markdown` prints "
               "it. A `?` marks an optional port. Defaults are written as a workflow file writes "
               "them.\n";
  for (const StageType* t : types) {
    std::cout << "\n## `" << t->name << "`\n\n" << t->doc << ".\n\n";
    std::cout << "- inputs: `" << ports_text(t->inputs) << "`\n";
    std::cout << "- outputs: `" << ports_text(t->outputs) << "`\n";
    if (t->params.empty()) continue;
    std::cout << "\n| parameter | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
    for (const ParamSpec& p : t->params) {
      // A '|' inside a cell would end it.
      std::string allowed = constraint_text(p);
      for (std::size_t at = allowed.find('|'); at != std::string::npos;
           at = allowed.find('|', at + 2)) {
        allowed.insert(at, "\\");
      }
      std::cout << "| `" << p.name << "` | `" << to_string(p.type) << "` | `" << default_text(p)
                << "` | " << allowed << " | " << p.doc << " |\n";
    }
  }
}

void print_text(const std::vector<const StageType*>& types) {
  for (const StageType* t : types) {
    std::cout << t->name << " — " << t->doc << "\n";
    std::cout << "  inputs:  " << ports_text(t->inputs) << "\n";
    std::cout << "  outputs: " << ports_text(t->outputs) << "\n";
    for (const ParamSpec& p : t->params) {
      std::string line = "  " + p.name + " (" + std::string(to_string(p.type)) + ", " +
                         (p.default_value ? "default " + default_text(p) : "required");
      const std::string allowed = constraint_text(p);
      if (!allowed.empty()) line += ", " + allowed;
      std::cout << line << "): " << p.doc << "\n";
    }
    std::cout << "\n";
  }
}

}  // namespace

void add_stages_command(CLI::App& app) {
  struct Flags {
    CommonOptions common;
    bool markdown = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = add_command(app, "stages", "List every stage type with its ports and parameters",
                              flags->common, JsonOutput::kYes);
  CLI::Option* markdown = cmd->add_flag("--markdown", flags->markdown,
                                        "Print the reference as Markdown (docs/stages.md)");
  cmd->get_option("--json")->excludes(markdown);
  cmd->callback([flags] {
    const std::vector<const StageType*> types = default_registry().types();
    if (flags->common.json) {
      print_json(types);
    } else if (flags->markdown) {
      print_markdown(types);
    } else {
      print_text(types);
    }
  });
}

}  // namespace trainflow::cli
