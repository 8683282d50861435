// The CUDA driver API, declared here with the few types and entry points used (the CUDA headers
// are not needed): results are ints (CUDA_SUCCESS is 0), devices are int ordinals, contexts are
// opaque pointers. Every call follows the driver API reference: cuInit(0) first; sizes are
// size_t through the _v2 entry points (cuDeviceTotalMem_v2, cuMemGetInfo_v2), which every
// driver since CUDA 3.2 exports.
#include "cuda_probe.hpp"

#include <dlfcn.h>

#include <cstddef>
#include <string>

namespace trainflow::detail {
namespace {

using CuResult = int;
using CuDevice = int;
using CuContext = void*;

constexpr CuResult kCudaSuccess = 0;
constexpr CuResult kCudaErrorNoDevice = 100;
// CUdevice_attribute values.
constexpr int kAttributeComputeCapabilityMajor = 75;
constexpr int kAttributeComputeCapabilityMinor = 76;

struct DriverApi {
  CuResult (*init)(unsigned) = nullptr;
  CuResult (*device_get_count)(int*) = nullptr;
  CuResult (*device_get)(CuDevice*, int) = nullptr;
  CuResult (*device_get_name)(char*, int, CuDevice) = nullptr;
  CuResult (*device_total_mem)(std::size_t*, CuDevice) = nullptr;
  CuResult (*device_get_attribute)(int*, int, CuDevice) = nullptr;
  CuResult (*device_get_pci_bus_id)(char*, int, CuDevice) = nullptr;
  CuResult (*get_error_string)(CuResult, const char**) = nullptr;
  // For free memory: optional.
  CuResult (*primary_ctx_retain)(CuContext*, CuDevice) = nullptr;
  CuResult (*primary_ctx_release)(CuDevice) = nullptr;
  CuResult (*ctx_get_current)(CuContext*) = nullptr;
  CuResult (*ctx_set_current)(CuContext) = nullptr;
  CuResult (*mem_get_info)(std::size_t*, std::size_t*) = nullptr;
};

template <class F>
bool bind(void* library, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(library, name));
  return fn != nullptr;
}

std::string error_text(const DriverApi& api, CuResult r) {
  const char* text = nullptr;
  if (api.get_error_string && api.get_error_string(r, &text) == kCudaSuccess && text) {
    return std::string(text) + " (CUresult " + std::to_string(r) + ")";
  }
  return "CUresult " + std::to_string(r);
}

// Free memory of `device`, or 0 with a note: through its primary context, made current for the
// call and then the caller's context restored.
std::uint64_t free_memory_of(const DriverApi& api, CuDevice device, unsigned index,
                             std::vector<std::string>& notes) {
  CuContext previous = nullptr;
  if (api.ctx_get_current(&previous) != kCudaSuccess) previous = nullptr;
  CuContext context = nullptr;
  if (const CuResult r = api.primary_ctx_retain(&context, device); r != kCudaSuccess) {
    notes.push_back("GPU " + std::to_string(index) +
                    ": free memory unknown (cuDevicePrimaryCtxRetain: " + error_text(api, r) + ")");
    return 0;
  }
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
  CuResult r = api.ctx_set_current(context);
  if (r == kCudaSuccess) r = api.mem_get_info(&free_bytes, &total_bytes);
  if (r != kCudaSuccess) {
    notes.push_back("GPU " + std::to_string(index) +
                    ": free memory unknown (cuMemGetInfo: " + error_text(api, r) + ")");
    free_bytes = 0;
  }
  (void)api.ctx_set_current(previous);
  (void)api.primary_ctx_release(device);
  return free_bytes;
}

}  // namespace

void probe_cuda(const std::string& library, bool free_memory, std::vector<Gpu>& gpus,
                std::vector<std::string>& notes) {
  if (library.empty()) return;
  dlerror();
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    const std::string reason = why ? why : "";
    if (reason.empty() || reason.find("No such file") != std::string::npos) {
      notes.push_back("no CUDA driver (" + library + " not found)");
    } else {
      notes.push_back("no CUDA driver (" + library + " could not be loaded: " + reason + ")");
    }
    return;
  }
  DriverApi api;
  const bool complete = bind(handle, "cuInit", api.init) &&
                        bind(handle, "cuDeviceGetCount", api.device_get_count) &&
                        bind(handle, "cuDeviceGet", api.device_get) &&
                        bind(handle, "cuDeviceGetName", api.device_get_name) &&
                        bind(handle, "cuDeviceTotalMem_v2", api.device_total_mem) &&
                        bind(handle, "cuDeviceGetAttribute", api.device_get_attribute);
  if (!complete) {
    notes.push_back("no CUDA driver (" + library +
                    " lacks a driver API entry point; is it a CUDA driver?)");
    dlclose(handle);
    return;
  }
  bind(handle, "cuGetErrorString", api.get_error_string);
  bind(handle, "cuDeviceGetPCIBusId", api.device_get_pci_bus_id);
  bool can_read_free = free_memory;
  if (can_read_free) {
    // The _v2 release (CUDA 11) replaced the original symbol; older drivers only have that one.
    const bool release = bind(handle, "cuDevicePrimaryCtxRelease_v2", api.primary_ctx_release) ||
                         bind(handle, "cuDevicePrimaryCtxRelease", api.primary_ctx_release);
    can_read_free = release && bind(handle, "cuDevicePrimaryCtxRetain", api.primary_ctx_retain) &&
                    bind(handle, "cuCtxGetCurrent", api.ctx_get_current) &&
                    bind(handle, "cuCtxSetCurrent", api.ctx_set_current) &&
                    bind(handle, "cuMemGetInfo_v2", api.mem_get_info);
    if (!can_read_free) notes.push_back("GPU free memory unknown (driver lacks the entry points)");
  }

  if (const CuResult r = api.init(0); r != kCudaSuccess) {
    notes.push_back(
        r == kCudaErrorNoDevice
            ? "CUDA driver found but no CUDA device (cuInit: " + error_text(api, r) + ")"
            : "CUDA driver found but it failed to initialise (cuInit: " + error_text(api, r) + ")");
    // Left loaded: a driver whose cuInit ran may have started threads of its own.
    return;
  }
  int count = 0;
  if (const CuResult r = api.device_get_count(&count); r != kCudaSuccess) {
    notes.push_back("CUDA devices unknown (cuDeviceGetCount: " + error_text(api, r) + ")");
    return;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    const auto index = static_cast<unsigned>(ordinal);
    CuDevice device = 0;
    if (const CuResult r = api.device_get(&device, ordinal); r != kCudaSuccess) {
      notes.push_back("GPU " + std::to_string(index) +
                      " skipped (cuDeviceGet: " + error_text(api, r) + ")");
      continue;
    }
    Gpu gpu;
    gpu.index = index;
    char name[256] = {};
    if (api.device_get_name(name, static_cast<int>(sizeof name - 1), device) == kCudaSuccess) {
      gpu.name = name;
    }
    std::size_t total = 0;
    if (const CuResult r = api.device_total_mem(&total, device); r == kCudaSuccess) {
      gpu.memory_bytes = total;
    } else {
      notes.push_back("GPU " + std::to_string(index) +
                      ": memory unknown (cuDeviceTotalMem: " + error_text(api, r) + ")");
    }
    if (api.device_get_attribute(&gpu.compute_major, kAttributeComputeCapabilityMajor, device) !=
            kCudaSuccess ||
        api.device_get_attribute(&gpu.compute_minor, kAttributeComputeCapabilityMinor, device) !=
            kCudaSuccess) {
      gpu.compute_major = 0;
      gpu.compute_minor = 0;
      notes.push_back("GPU " + std::to_string(index) + ": compute capability unknown");
    }
    char bus_id[64] = {};
    if (api.device_get_pci_bus_id &&
        api.device_get_pci_bus_id(bus_id, static_cast<int>(sizeof bus_id - 1), device) ==
            kCudaSuccess) {
      gpu.pci_bus_id = bus_id;
    }
    if (can_read_free) gpu.free_memory_bytes = free_memory_of(api, device, index, notes);
    gpus.push_back(std::move(gpu));
  }
}

}  // namespace trainflow::detail
