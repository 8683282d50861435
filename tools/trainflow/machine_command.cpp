#include "machine_command.hpp"

#include <iostream>
#include <memory>

#include "command.hpp"
#include "trainflow/resources/machine.hpp"

namespace trainflow::cli {

void add_machine_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CommonOptions>();
  add_command(app, "machine",
              "Show what this machine offers: cores, NUMA nodes, memory and CUDA devices", *args,
              JsonOutput::kYes)
      ->callback([args, &exit_code] {
        const Machine machine = detect_machine();
        std::cout << (args->json ? to_json(machine) + "\n" : to_string(machine));
        exit_code = kExitOk;
      });
}

}  // namespace trainflow::cli
