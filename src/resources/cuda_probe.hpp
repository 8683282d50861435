// The CUDA half of detect_machine(): the devices the CUDA driver reports, found through the
// driver API loaded at run time (dlopen), so that trainflow needs no CUDA to build or run.
#pragma once

#include <string>
#include <vector>

#include "trainflow/resources/machine.hpp"

namespace trainflow::detail {

// Appends the devices of the driver library `library` (e.g. "libcuda.so.1") to `gpus`, and to
// `notes` one line per thing that failed ("no CUDA driver (libcuda.so.1 not found)", a driver
// call's error). With `free_memory`, reads each device's free memory through its primary context,
// restoring the calling thread's current context afterwards. Never throws.
void probe_cuda(const std::string& library, bool free_memory, std::vector<Gpu>& gpus,
                std::vector<std::string>& notes);

}  // namespace trainflow::detail
