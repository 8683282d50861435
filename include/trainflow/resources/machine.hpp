// Machine: what the computer running this process offers — cores and NUMA nodes (hwloc), memory,
// and CUDA devices — read once at start, to size an executor's ResourceCapacity.
//
// detect_machine() never fails: whatever cannot be read is left unknown (0 or empty) and a line
// in Machine::notes says what and why. CUDA devices are found through the driver API loaded with
// dlopen("libcuda.so.1"), so trainflow neither links nor needs CUDA: without a driver there are
// simply no GPUs (and a note saying so).
//
//   trainflow::Machine m = trainflow::detect_machine();
//   std::cout << trainflow::to_string(m);                // cores, NUMA nodes, memory, GPUs, notes
//   trainflow::Executor ex{{.threads = m.usable_cpus, .capacity = trainflow::capacity_of(m, 0)}};
//
// Thread safety: detect_machine() is reentrant; a Machine is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "trainflow/exec/resources.hpp"

namespace trainflow {

// One NUMA node: a group of CPUs with its own memory.
struct NumaNode {
  unsigned os_index = 0;       // the operating system's number for the node (node0, node1, ...)
  std::vector<unsigned> cpus;  // the OS numbers of its logical CPUs this process may use, sorted
  std::uint64_t memory_bytes = 0;  // its local memory; 0: unknown
};

// One CUDA device, as the driver numbers it (CUDA_VISIBLE_DEVICES applies).
struct Gpu {
  unsigned index = 0;                   // the CUDA device ordinal
  std::string name;                     // e.g. "NVIDIA H100 80GB HBM3"
  std::uint64_t memory_bytes = 0;       // total device memory
  std::uint64_t free_memory_bytes = 0;  // free when detected; 0: unknown (see notes)
  int compute_major = 0;                // compute capability, e.g. 9.0 is {9, 0}
  int compute_minor = 0;
  std::string pci_bus_id;  // "dddd:bb:dd.f"; empty: unknown
};

struct Machine {
  // Physical cores and logical CPUs (hardware threads) of the machine, as hwloc sees it (only
  // those the process is allowed to use when a cgroup cpuset restricts them). 0: unknown.
  unsigned cores = 0;
  unsigned logical_cpus = 0;
  // The logical CPUs this process may keep busy: its CPU affinity (sched_getaffinity), lowered
  // to the cgroup v2 CPU quota (cpu.max, rounded up) when there is one. Never 0: when nothing
  // can be read it is std::thread::hardware_concurrency(), or 1.
  unsigned usable_cpus = 1;
  // NUMA nodes, by OS index; one node on machines without NUMA. Empty: unknown.
  std::vector<NumaNode> numa_nodes;
  // Physical memory (MemTotal of /proc/meminfo), and what can still be allocated without
  // swapping (MemAvailable), both lowered to the cgroup v2 memory limit (memory.max, minus
  // memory.current for the available part) when there is one. 0: unknown.
  std::uint64_t memory_bytes = 0;
  std::uint64_t available_memory_bytes = 0;
  // e.g. "AMD EPYC 7B13"; empty: unknown.
  std::string cpu_model;
  // CUDA devices; empty without a CUDA driver or device.
  std::vector<Gpu> gpus;
  // One line per thing that could not be read or looks odd, e.g.
  // "no CUDA driver (libcuda.so.1 not found)". Empty when everything was read.
  std::vector<std::string> notes;
};

// Where detect_machine() looks. The defaults read the real machine; tests point the file reads
// at a fake tree and the CUDA probe at a library that does not exist.
struct MachineProbeOptions {
  // The files read directly — /proc/meminfo, /proc/cpuinfo, /proc/self/cgroup and the cgroup v2
  // files under /sys/fs/cgroup — are read under this directory. Default "/". hwloc and
  // sched_getaffinity always see the real machine.
  std::filesystem::path fs_root = "/";
  // Default true: the topology from hwloc (cores, logical CPUs, NUMA nodes, CPU model). False:
  // those stay unknown unless /proc/cpuinfo gives the model.
  bool topology = true;
  // The CUDA driver library to dlopen. Default "libcuda.so.1". Empty: GPUs are not looked for.
  std::string cuda_driver = "libcuda.so.1";
  // Default true: each GPU's free memory is read, which needs its primary context (created and
  // released here when no one holds it: tens of milliseconds and some device memory for the
  // moment). False: free_memory_bytes stays 0.
  bool gpu_free_memory = true;
};

// Reads the machine as described above. Never throws and never fails; costs a few milliseconds
// (hwloc's topology) plus, with GPUs, the CUDA driver's initialisation. Once cuInit succeeded the
// driver library stays loaded for the life of the process.
Machine detect_machine(const MachineProbeOptions& options = {});

// What an executor on this machine may hand out to stages: cpus = min(workers, usable_cpus)
// (usable_cpus when workers is 0), so that stages never hold more cores than the process may use;
// memory = available_memory_bytes (memory_bytes when that is unknown; 0 when both are, which
// ResourceCapacity reads as "the default"), since memory other processes hold is not the run's;
// one entry per GPU with its total memory.
ResourceCapacity capacity_of(const Machine& machine, unsigned workers);

// Several lines of text for people: cores, CPUs, NUMA nodes, memory, GPUs, then the notes.
std::string to_string(const Machine& machine);

// One JSON object: {"cores", "logical_cpus", "usable_cpus", "cpu_model", "memory_bytes",
// "available_memory_bytes", "numa_nodes": [{"os_index", "cpus", "memory_bytes"}], "gpus":
// [{"index", "name", "memory_bytes", "free_memory_bytes", "compute_capability": "9.0",
// "pci_bus_id"}], "notes": [...]}; unknown numbers are null, unknown text is null.
std::string to_json(const Machine& machine);

}  // namespace trainflow
