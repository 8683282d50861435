#include "trainflow/resources/machine.hpp"

#include <hwloc.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cuda_probe.hpp"

namespace trainflow {
namespace {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// `root` + an absolute path ("/proc/meminfo").
std::filesystem::path under(const std::filesystem::path& root, std::string_view absolute) {
  return root / std::filesystem::path(absolute).relative_path();
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  const std::string t = trim(text);
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 19) {
    return std::nullopt;
  }
  return std::stoull(t);
}

// A "Key:   123 kB" line of /proc/meminfo, in bytes.
std::optional<std::uint64_t> meminfo_field(const std::string& meminfo, std::string_view key) {
  std::istringstream lines(meminfo);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0 ||
        line[key.size()] != ':') {
      continue;
    }
    std::string rest = trim(std::string_view(line).substr(key.size() + 1));
    std::uint64_t scale = 1;
    if (rest.size() > 3 && rest.compare(rest.size() - 3, 3, " kB") == 0) {
      rest.resize(rest.size() - 3);
      scale = 1024;
    }
    const std::optional<std::uint64_t> v = parse_u64(rest);
    if (!v) return std::nullopt;
    return *v * scale;
  }
  return std::nullopt;
}

// The cgroup limits of this process: cgroup v2 (cpu.max, memory.max, memory.current in the
// process's directory, "0::/path" in /proc/self/cgroup), else cgroup v1 (cpu.cfs_quota_us and
// cpu.cfs_period_us of the cpu controller, memory.limit_in_bytes and memory.usage_in_bytes of
// the memory controller). Inside containers the process's own path is often not mounted: then
// the controller's root directory is used.
struct CgroupLimits {
  std::optional<std::string> cpu_max;     // v2 syntax: "<quota> <period>" or "max <period>"
  std::optional<std::string> memory_max;  // bytes or "max"
  std::optional<std::string> memory_current;
};

// "/sys/fs/cgroup/<mount>/<path>" for the first mount that has `file`, then "<mount>" alone.
std::optional<std::filesystem::path> controller_file(const std::filesystem::path& base,
                                                     const std::vector<std::string>& mounts,
                                                     const std::string& path,
                                                     const std::string& file) {
  std::error_code ec;
  for (const bool with_path : {true, false}) {
    for (const std::string& mount : mounts) {
      std::filesystem::path dir = mount.empty() ? base : base / mount;
      if (with_path) dir /= std::filesystem::path(path).relative_path();
      if (std::filesystem::exists(dir / file, ec)) return dir / file;
    }
  }
  return std::nullopt;
}

CgroupLimits read_cgroup(const std::filesystem::path& root) {
  const std::filesystem::path base = under(root, "/sys/fs/cgroup");
  std::string v2_path = "/";
  std::string cpu_path = "/";
  std::string memory_path = "/";
  if (const std::optional<std::string> text = read_text(under(root, "/proc/self/cgroup"))) {
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      const auto first = line.find(':');
      const auto second = first == std::string::npos ? first : line.find(':', first + 1);
      if (second == std::string::npos) continue;
      const std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
      const std::string path = trim(line.substr(second + 1));
      if (line.rfind("0::", 0) == 0) v2_path = path;
      if (controllers.find(",cpu,") != std::string::npos) cpu_path = path;
      if (controllers.find(",memory,") != std::string::npos) memory_path = path;
    }
  }
  CgroupLimits limits;
  const auto read = [](const std::optional<std::filesystem::path>& file) {
    return file ? read_text(*file) : std::nullopt;
  };
  limits.cpu_max = read(controller_file(base, {""}, v2_path, "cpu.max"));
  limits.memory_max = read(controller_file(base, {""}, v2_path, "memory.max"));
  if (limits.memory_max) {
    limits.memory_current = read(controller_file(base, {""}, v2_path, "memory.current"));
  }
  if (!limits.cpu_max) {
    const std::vector<std::string> mounts = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
    const std::optional<std::string> quota =
        read(controller_file(base, mounts, cpu_path, "cpu.cfs_quota_us"));
    const std::optional<std::string> period =
        read(controller_file(base, mounts, cpu_path, "cpu.cfs_period_us"));
    if (quota && period) {
      const std::string q = trim(*quota);
      limits.cpu_max = (q == "-1" ? std::string("max") : q) + " " + trim(*period);
    }
  }
  if (!limits.memory_max) {
    limits.memory_max =
        read(controller_file(base, {"memory"}, memory_path, "memory.limit_in_bytes"));
    limits.memory_current =
        read(controller_file(base, {"memory"}, memory_path, "memory.usage_in_bytes"));
  }
  return limits;
}

void read_cpus(const CgroupLimits& cgroup, Machine& m) {
  unsigned usable = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    usable = static_cast<unsigned>(CPU_COUNT(&set));
  } else {
    m.notes.push_back("CPU affinity unknown (sched_getaffinity failed); using every CPU");
  }
  if (usable == 0) usable = std::max(1u, std::thread::hardware_concurrency());
  // "<quota> <period>" in microseconds, or "max <period>" for no limit.
  if (cgroup.cpu_max) {
    std::istringstream in(*cgroup.cpu_max);
    std::string quota;
    std::string period;
    in >> quota >> period;
    const std::optional<std::uint64_t> q = parse_u64(quota);
    const std::optional<std::uint64_t> p = parse_u64(period);
    if (quota != "max" && q && p && *p > 0) {
      const auto limit = static_cast<unsigned>(
          std::min<std::uint64_t>(usable, std::max<std::uint64_t>(1, (*q + *p - 1) / *p)));
      if (limit < usable) {
        m.notes.push_back("CPU quota of the cgroup (" + std::to_string(*q) + " us per " +
                          std::to_string(*p) + " us) allows " + std::to_string(limit) + " of " +
                          std::to_string(usable) + " CPUs");
        usable = limit;
      }
    } else if (quota != "max") {
      m.notes.push_back("cgroup cpu.max not understood: '" + trim(*cgroup.cpu_max) + "'");
    }
  }
  m.usable_cpus = usable;
}

void read_memory(const std::filesystem::path& root, const CgroupLimits& cgroup, Machine& m) {
  const std::optional<std::string> meminfo = read_text(under(root, "/proc/meminfo"));
  if (!meminfo) {
    m.notes.push_back("memory unknown (cannot read /proc/meminfo)");
  } else {
    if (const auto total = meminfo_field(*meminfo, "MemTotal")) {
      m.memory_bytes = *total;
    } else {
      m.notes.push_back("total memory unknown (no MemTotal in /proc/meminfo)");
    }
    if (const auto available = meminfo_field(*meminfo, "MemAvailable")) {
      m.available_memory_bytes = *available;
    } else {
      m.notes.push_back("available memory unknown (no MemAvailable in /proc/meminfo)");
    }
  }
  if (!cgroup.memory_max || trim(*cgroup.memory_max) == "max") return;
  const std::optional<std::uint64_t> limit = parse_u64(*cgroup.memory_max);
  if (!limit) {
    m.notes.push_back("cgroup memory.max not understood: '" + trim(*cgroup.memory_max) + "'");
    return;
  }
  // cgroup v1 writes "no limit" as a huge number: a limit above the machine's memory is none.
  if (m.memory_bytes != 0 && *limit >= m.memory_bytes) return;
  m.notes.push_back("memory limited by the cgroup (memory.max " + std::to_string(*limit) + ")");
  m.memory_bytes = *limit;
  std::uint64_t left = *limit;
  if (cgroup.memory_current) {
    if (const auto used = parse_u64(*cgroup.memory_current))
      left = *used < *limit ? *limit - *used : 0;
  }
  if (m.available_memory_bytes == 0 || left < m.available_memory_bytes) {
    m.available_memory_bytes = left;
  }
}

std::vector<unsigned> bitmap_indices(hwloc_const_bitmap_t set) {
  std::vector<unsigned> out;
  if (set == nullptr) return out;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) {
    out.push_back(static_cast<unsigned>(i));
  }
  return out;
}

void read_topology(Machine& m) {
  hwloc_topology_t topology = nullptr;
  if (hwloc_topology_init(&topology) != 0) {
    m.notes.push_back("CPU topology unknown (hwloc_topology_init failed)");
    return;
  }
  if (hwloc_topology_load(topology) != 0) {
    m.notes.push_back("CPU topology unknown (hwloc_topology_load failed)");
    hwloc_topology_destroy(topology);
    return;
  }
  const int cores = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE);
  const int pus = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PU);
  if (cores > 0) m.cores = static_cast<unsigned>(cores);
  if (pus > 0) m.logical_cpus = static_cast<unsigned>(pus);
  if (cores <= 0) m.notes.push_back("physical cores unknown (hwloc found no cores)");
  const int nodes = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < nodes; ++i) {
    const hwloc_obj_t node =
        hwloc_get_obj_by_type(topology, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    if (node == nullptr) continue;
    NumaNode n;
    n.os_index = node->os_index;
    n.cpus = bitmap_indices(node->cpuset);
    if (node->attr != nullptr) n.memory_bytes = node->attr->numanode.local_memory;
    m.numa_nodes.push_back(std::move(n));
  }
  std::sort(m.numa_nodes.begin(), m.numa_nodes.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.os_index < b.os_index; });
  if (m.numa_nodes.empty()) m.notes.push_back("NUMA nodes unknown (hwloc found none)");
  // The model is an info of each package (and of the root on some platforms).
  const int packages = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PACKAGE);
  for (int i = 0; i < packages && m.cpu_model.empty(); ++i) {
    const hwloc_obj_t package =
        hwloc_get_obj_by_type(topology, HWLOC_OBJ_PACKAGE, static_cast<unsigned>(i));
    if (const char* model = hwloc_obj_get_info_by_name(package, "CPUModel")) m.cpu_model = model;
  }
  if (m.cpu_model.empty()) {
    if (const char* model = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topology), "CPUModel")) {
      m.cpu_model = model;
    }
  }
  hwloc_topology_destroy(topology);
}

// "model name" (x86) or "Model"/"Processor"/"cpu model" (other architectures) of /proc/cpuinfo.
std::string cpuinfo_model(const std::filesystem::path& root) {
  const std::optional<std::string> text = read_text(under(root, "/proc/cpuinfo"));
  if (!text) return {};
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(std::string_view(line).substr(0, colon));
    if (key == "model name" || key == "Model" || key == "cpu model" || key == "Processor") {
      std::string value = trim(std::string_view(line).substr(colon + 1));
      if (!value.empty()) return value;
    }
  }
  return {};
}

std::string gib(std::uint64_t bytes) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << static_cast<double>(bytes) / static_cast<double>(1ULL << 30) << " GiB";
  return out.str();
}

// "0-3,8,10-11"
std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::string out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

Machine detect_machine(const MachineProbeOptions& options) {
  Machine m;
  try {
    const CgroupLimits cgroup = read_cgroup(options.fs_root);
    if (options.topology) read_topology(m);
    read_cpus(cgroup, m);
    read_memory(options.fs_root, cgroup, m);
    if (m.cpu_model.empty()) m.cpu_model = cpuinfo_model(options.fs_root);
    if (m.cpu_model.empty()) m.notes.push_back("CPU model unknown");
    detail::probe_cuda(options.cuda_driver, options.gpu_free_memory, m.gpus, m.notes);
  } catch (const std::exception& e) {
    // Only allocation or filesystem errors can get here; what was read so far is kept.
    m.notes.push_back(std::string("machine detection stopped early: ") + e.what());
  }
  if (m.usable_cpus == 0) m.usable_cpus = 1;
  return m;
}

ResourceCapacity capacity_of(const Machine& machine, unsigned workers) {
  ResourceCapacity capacity;
  const unsigned usable = std::max(1u, machine.usable_cpus);
  capacity.cpus = workers == 0 ? usable : std::min(workers, usable);
  capacity.memory_bytes =
      machine.available_memory_bytes != 0 ? machine.available_memory_bytes : machine.memory_bytes;
  for (const Gpu& gpu : machine.gpus) capacity.gpu_memory_bytes.push_back(gpu.memory_bytes);
  return capacity;
}

std::string to_string(const Machine& m) {
  std::ostringstream out;
  const auto known = [](unsigned v) { return v == 0 ? std::string("unknown") : std::to_string(v); };
  out << "cpu: " << (m.cpu_model.empty() ? "unknown model" : m.cpu_model) << "\n";
  out << "cores: " << known(m.cores) << " physical, " << known(m.logical_cpus) << " logical, "
      << m.usable_cpus << " usable by this process\n";
  out << "memory: " << (m.memory_bytes ? gib(m.memory_bytes) : "unknown") << " total, "
      << (m.available_memory_bytes ? gib(m.available_memory_bytes) : "unknown") << " available\n";
  out << "numa nodes: " << (m.numa_nodes.empty() ? "unknown" : std::to_string(m.numa_nodes.size()))
      << "\n";
  for (const NumaNode& n : m.numa_nodes) {
    out << "  node " << n.os_index << ": cpus " << (n.cpus.empty() ? "none" : cpu_list(n.cpus))
        << ", " << (n.memory_bytes ? gib(n.memory_bytes) : "memory unknown") << "\n";
  }
  out << "gpus: " << m.gpus.size() << "\n";
  for (const Gpu& g : m.gpus) {
    out << "  gpu " << g.index << ": " << (g.name.empty() ? "unknown name" : g.name) << ", "
        << gib(g.memory_bytes) << " total, "
        << (g.free_memory_bytes ? gib(g.free_memory_bytes) + " free" : "free unknown")
        << ", compute capability "
        << (g.compute_major
                ? std::to_string(g.compute_major) + "." + std::to_string(g.compute_minor)
                : "unknown")
        << ", pci " << (g.pci_bus_id.empty() ? "unknown" : g.pci_bus_id) << "\n";
  }
  for (const std::string& note : m.notes) out << "note: " << note << "\n";
  return out.str();
}

std::string to_json(const Machine& m) {
  using nlohmann::ordered_json;
  const auto number = [](std::uint64_t v) {
    return v == 0 ? ordered_json(nullptr) : ordered_json(v);
  };
  const auto text = [](const std::string& s) {
    return s.empty() ? ordered_json(nullptr) : ordered_json(s);
  };
  ordered_json nodes = ordered_json::array();
  for (const NumaNode& n : m.numa_nodes) {
    nodes.push_back(
        {{"os_index", n.os_index}, {"cpus", n.cpus}, {"memory_bytes", number(n.memory_bytes)}});
  }
  ordered_json gpus = ordered_json::array();
  for (const Gpu& g : m.gpus) {
    gpus.push_back({{"index", g.index},
                    {"name", text(g.name)},
                    {"memory_bytes", number(g.memory_bytes)},
                    {"free_memory_bytes", number(g.free_memory_bytes)},
                    {"compute_capability", g.compute_major
                                               ? ordered_json(std::to_string(g.compute_major) +
                                                              "." + std::to_string(g.compute_minor))
                                               : ordered_json(nullptr)},
                    {"pci_bus_id", text(g.pci_bus_id)}});
  }
  const ordered_json out = {{"cores", number(m.cores)},
                            {"logical_cpus", number(m.logical_cpus)},
                            {"usable_cpus", m.usable_cpus},
                            {"cpu_model", text(m.cpu_model)},
                            {"memory_bytes", number(m.memory_bytes)},
                            {"available_memory_bytes", number(m.available_memory_bytes)},
                            {"numa_nodes", std::move(nodes)},
                            {"gpus", std::move(gpus)},
                            {"notes", m.notes}};
  return out.dump(2);
}

}  // namespace trainflow
