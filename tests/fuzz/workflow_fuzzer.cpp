// libFuzzer target: any bytes as a workflow file. The loader must return a workflow or an error,
// never crash, hang or allocate without bound; a workflow it accepts must have a valid graph.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "trainflow/config/workflow.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  trainflow::Result<trainflow::config::Workflow> wf =
      trainflow::config::parse_workflow(text, "fuzz.yaml");
  if (wf && !wf->graph.validate().ok()) std::abort();
  if (!wf && wf.error().message().empty()) std::abort();
  return 0;
}
