#include "trainflow/resources/machine.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "testing/temp_dir.hpp"

namespace trainflow {
namespace {

constexpr const char* kNoDriver = "libtrainflow-test-no-such-cuda.so.1";

bool has_note(const Machine& m, const std::string& part) {
  return std::any_of(m.notes.begin(), m.notes.end(),
                     [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

std::string notes(const Machine& m) {
  std::string out;
  for (const std::string& n : m.notes) out += n + "\n";
  return out;
}

// A /proc/meminfo value in bytes, read here independently of the code under test.
std::uint64_t meminfo_kb(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      std::uint64_t kb = 0;
      fields >> kb;
      return kb;
    }
  }
  return 0;
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A fake tree with 16 GiB of memory, 6 GiB available, and the given cgroup files at the root.
void fake_proc(const std::filesystem::path& root) {
  write(root / "proc/meminfo",
        "MemTotal:       16777216 kB\nMemFree:         1000 kB\nMemAvailable:    6291456 kB\n");
  write(root / "proc/cpuinfo", "processor\t: 0\nmodel name\t: Fake CPU 9000\n");
}

TEST(MachineTest, CpusAreConsistentWithTheOperatingSystem) {
  const Machine m = detect_machine({.cuda_driver = ""});
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_GT(online, 0);
  ASSERT_GT(m.logical_cpus, 0u) << notes(m);
  ASSERT_GT(m.cores, 0u) << notes(m);
  EXPECT_LE(m.cores, m.logical_cpus);
  EXPECT_LE(m.logical_cpus, static_cast<unsigned>(online));
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_GE(m.usable_cpus, 1u);
  EXPECT_LE(m.usable_cpus, static_cast<unsigned>(CPU_COUNT(&set)));
}

TEST(MachineTest, UsableCpusFollowTheAffinityMask) {
  cpu_set_t original;
  CPU_ZERO(&original);
  ASSERT_EQ(sched_getaffinity(0, sizeof original, &original), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c) {
    if (CPU_ISSET(c, &original)) first = c;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const Machine m = detect_machine({.topology = false, .cuda_driver = ""});
  ASSERT_EQ(sched_setaffinity(0, sizeof original, &original), 0);
  EXPECT_EQ(m.usable_cpus, 1u);
}

TEST(MachineTest, MemoryMatchesProcMeminfo) {
  const Machine m = detect_machine({.cuda_driver = ""});
  const std::uint64_t total = meminfo_kb("MemTotal") * 1024;
  ASSERT_GT(total, 0u);
  ASSERT_GT(m.memory_bytes, 0u) << notes(m);
  ASSERT_GT(m.available_memory_bytes, 0u) << notes(m);
  // Equal unless a cgroup limit lowered it.
  EXPECT_LE(m.memory_bytes, total);
  if (!has_note(m, "memory.max")) {
    EXPECT_EQ(m.memory_bytes, total);
  }
  EXPECT_LE(m.available_memory_bytes, m.memory_bytes);
}

TEST(MachineTest, NumaNodesPartitionTheCpusAndTheMemory) {
  const Machine m = detect_machine({.cuda_driver = ""});
  ASSERT_FALSE(m.numa_nodes.empty()) << notes(m);
  std::set<unsigned> seen;
  std::set<unsigned> indices;
  std::uint64_t memory = 0;
  bool memory_known = true;
  for (const NumaNode& n : m.numa_nodes) {
    EXPECT_TRUE(indices.insert(n.os_index).second) << "node " << n.os_index << " twice";
    EXPECT_TRUE(std::is_sorted(n.cpus.begin(), n.cpus.end()));
    for (unsigned c : n.cpus) EXPECT_TRUE(seen.insert(c).second) << "cpu " << c << " twice";
    memory += n.memory_bytes;
    memory_known = memory_known && n.memory_bytes > 0;
  }
  EXPECT_EQ(seen.size(), m.logical_cpus);
  if (memory_known) {
    // hwloc reads each node's MemTotal from sysfs; they sum to the machine's (some sandboxes
    // report nodes inconsistent with /proc/meminfo, so the nodes' own files are the reference).
    std::uint64_t expected = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/devices/system/node", ec)) {
      std::ifstream in(entry.path() / "meminfo");
      for (std::string line; std::getline(in, line);) {
        const auto at = line.find("MemTotal:");
        if (at != std::string::npos) expected += std::stoull(line.substr(at + 9)) * 1024;
      }
    }
    if (expected == 0) expected = meminfo_kb("MemTotal") * 1024;
    const auto reference = static_cast<double>(expected);
    EXPECT_NEAR(static_cast<double>(memory), reference, reference * 0.01);
  }
}

TEST(MachineTest, CpuModelIsKnown) {
  const Machine m = detect_machine({.cuda_driver = ""});
  EXPECT_FALSE(m.cpu_model.empty()) << notes(m);
}

TEST(MachineTest, CgroupLimitsLowerCpusAndMemory) {
  test::TempDir dir("machine-cgroup");
  fake_proc(dir.path());
  write(dir / "proc/self/cgroup", "0::/job/step\n");
  write(dir / "sys/fs/cgroup/job/step/cpu.max", "100000 100000\n");
  write(dir / "sys/fs/cgroup/job/step/memory.max", std::to_string(4ULL << 30) + "\n");
  write(dir / "sys/fs/cgroup/job/step/memory.current", std::to_string(1ULL << 30) + "\n");
  const Machine m = detect_machine({.fs_root = dir.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(m.usable_cpus, 1u);
  EXPECT_EQ(m.memory_bytes, 4ULL << 30);
  EXPECT_EQ(m.available_memory_bytes, 3ULL << 30);
  EXPECT_EQ(m.cpu_model, "Fake CPU 9000");
  EXPECT_TRUE(has_note(m, "memory limited by the cgroup")) << notes(m);
}

TEST(MachineTest, CgroupV1LimitsAreReadToo) {
  test::TempDir dir("machine-cgroup-v1");
  fake_proc(dir.path());
  write(dir / "proc/self/cgroup", "4:memory:/box\n2:cpu,cpuacct:/box\n0::/\n");
  write(dir / "sys/fs/cgroup/cpu,cpuacct/box/cpu.cfs_quota_us", "100000\n");
  write(dir / "sys/fs/cgroup/cpu,cpuacct/box/cpu.cfs_period_us", "100000\n");
  write(dir / "sys/fs/cgroup/memory/box/memory.limit_in_bytes", std::to_string(2ULL << 30));
  write(dir / "sys/fs/cgroup/memory/box/memory.usage_in_bytes", std::to_string(1ULL << 29));
  const Machine m = detect_machine({.fs_root = dir.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(m.usable_cpus, 1u);
  EXPECT_EQ(m.memory_bytes, 2ULL << 30);
  EXPECT_EQ(m.available_memory_bytes, (2ULL << 30) - (1ULL << 29));

  // v1's "no limit": quota -1, and a limit far above the machine's memory.
  write(dir / "sys/fs/cgroup/cpu,cpuacct/box/cpu.cfs_quota_us", "-1\n");
  write(dir / "sys/fs/cgroup/memory/box/memory.limit_in_bytes", "9223372036854771712\n");
  const Machine unlimited =
      detect_machine({.fs_root = dir.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(unlimited.memory_bytes, 16ULL << 30);
  EXPECT_EQ(unlimited.available_memory_bytes, 6ULL << 30);
  EXPECT_FALSE(has_note(unlimited, "cgroup")) << notes(unlimited);
}

TEST(MachineTest, QuotaRoundsUpAndNoLimitChangesNothing) {
  test::TempDir dir("machine-quota");
  fake_proc(dir.path());
  write(dir / "sys/fs/cgroup/cpu.max", "50000 100000\n");  // half a CPU: still one
  write(dir / "sys/fs/cgroup/memory.max", "max\n");
  const Machine m = detect_machine({.fs_root = dir.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(m.usable_cpus, 1u);
  EXPECT_EQ(m.memory_bytes, 16ULL << 30);
  EXPECT_EQ(m.available_memory_bytes, 6ULL << 30);

  write(dir / "sys/fs/cgroup/cpu.max", "max 100000\n");
  const Machine unlimited =
      detect_machine({.fs_root = dir.path(), .topology = false, .cuda_driver = ""});
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(unlimited.usable_cpus, static_cast<unsigned>(CPU_COUNT(&set)));
}

TEST(MachineTest, UnreadableOrGarbledFilesBecomeNotes) {
  test::TempDir empty("machine-empty");
  const Machine none =
      detect_machine({.fs_root = empty.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(none.memory_bytes, 0u);
  EXPECT_EQ(none.available_memory_bytes, 0u);
  EXPECT_GE(none.usable_cpus, 1u);
  EXPECT_TRUE(has_note(none, "cannot read /proc/meminfo")) << notes(none);
  EXPECT_TRUE(has_note(none, "CPU model unknown")) << notes(none);

  test::TempDir garbled("machine-garbled");
  write(garbled / "proc/meminfo", "MemTotal: lots kB\n");
  write(garbled / "sys/fs/cgroup/cpu.max", "two CPUs please\n");
  write(garbled / "sys/fs/cgroup/memory.max", "-1\n");
  const Machine m =
      detect_machine({.fs_root = garbled.path(), .topology = false, .cuda_driver = ""});
  EXPECT_EQ(m.memory_bytes, 0u);
  EXPECT_TRUE(has_note(m, "total memory unknown")) << notes(m);
  EXPECT_TRUE(has_note(m, "available memory unknown")) << notes(m);
  EXPECT_TRUE(has_note(m, "cpu.max not understood: 'two CPUs please'")) << notes(m);
  EXPECT_TRUE(has_note(m, "memory.max not understood: '-1'")) << notes(m);
  EXPECT_GE(m.usable_cpus, 1u);
}

TEST(MachineTest, NoCudaDriverMeansNoGpusAndANote) {
  const Machine m = detect_machine({.topology = false, .cuda_driver = kNoDriver});
  EXPECT_TRUE(m.gpus.empty());
  EXPECT_TRUE(has_note(m, std::string("no CUDA driver (") + kNoDriver + " not found)")) << notes(m);
}

TEST(MachineTest, ALibraryThatIsNotADriverIsReported) {
  // zlib is always there (trainflow links it) and has none of the driver's entry points.
  const Machine m = detect_machine({.topology = false, .cuda_driver = "libz.so.1"});
  EXPECT_TRUE(m.gpus.empty());
  EXPECT_TRUE(has_note(m, "libz.so.1 lacks a driver API entry point")) << notes(m);
}

TEST(MachineTest, TheRealDriverPathIsConsistent) {
  const Machine m = detect_machine({.topology = false});
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    EXPECT_TRUE(m.gpus.empty());
    EXPECT_TRUE(has_note(m, "no CUDA driver (libcuda.so.1 not found)")) << notes(m);
    return;
  }
  dlclose(driver);
  for (const Gpu& g : m.gpus) {
    EXPECT_FALSE(g.name.empty());
    EXPECT_GT(g.memory_bytes, 0u);
    EXPECT_LE(g.free_memory_bytes, g.memory_bytes);
    EXPECT_GE(g.compute_major, 3);
    EXPECT_EQ(g.pci_bus_id.size(), 12u) << g.pci_bus_id;  // dddd:bb:dd.f
  }
}

Machine sample_machine() {
  Machine m;
  m.cores = 4;
  m.logical_cpus = 8;
  m.usable_cpus = 6;
  m.memory_bytes = 32ULL << 30;
  m.available_memory_bytes = 20ULL << 30;
  m.cpu_model = "Sample CPU";
  m.numa_nodes = {{0, {0, 1, 2, 3}, 16ULL << 30}, {1, {4, 5, 7}, 16ULL << 30}};
  m.gpus = {{0, "Sample GPU", 80ULL << 30, 79ULL << 30, 9, 0, "0000:3b:00.0"},
            {1, "Sample GPU", 40ULL << 30, 0, 8, 6, ""}};
  m.notes = {"GPU 1: free memory unknown"};
  return m;
}

TEST(MachineTest, CapacityIsUsableCpusAvailableMemoryAndEachGpu) {
  const Machine m = sample_machine();
  const ResourceCapacity all = capacity_of(m, 0);
  EXPECT_EQ(all.cpus, 6u);
  EXPECT_EQ(all.memory_bytes, 20ULL << 30);
  EXPECT_EQ(all.gpu_memory_bytes, (std::vector<std::uint64_t>{80ULL << 30, 40ULL << 30}));
  EXPECT_EQ(capacity_of(m, 2).cpus, 2u);
  EXPECT_EQ(capacity_of(m, 64).cpus, 6u);

  Machine unknown;
  unknown.usable_cpus = 0;
  unknown.memory_bytes = 8ULL << 30;
  const ResourceCapacity fallback = capacity_of(unknown, 0);
  EXPECT_EQ(fallback.cpus, 1u);
  EXPECT_EQ(fallback.memory_bytes, 8ULL << 30);
  EXPECT_TRUE(fallback.gpu_memory_bytes.empty());
}

TEST(MachineTest, TextNamesEverything) {
  const std::string text = to_string(sample_machine());
  EXPECT_NE(text.find("cpu: Sample CPU"), std::string::npos) << text;
  EXPECT_NE(text.find("cores: 4 physical, 8 logical, 6 usable"), std::string::npos) << text;
  EXPECT_NE(text.find("memory: 32.0 GiB total, 20.0 GiB available"), std::string::npos) << text;
  EXPECT_NE(text.find("node 1: cpus 4-5,7, 16.0 GiB"), std::string::npos) << text;
  EXPECT_NE(text.find("gpu 0: Sample GPU, 80.0 GiB total, 79.0 GiB free, compute capability "
                      "9.0, pci 0000:3b:00.0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gpu 1: Sample GPU, 40.0 GiB total, free unknown"), std::string::npos)
      << text;
  EXPECT_NE(text.find("note: GPU 1: free memory unknown"), std::string::npos) << text;
  EXPECT_NE(to_string(Machine{}).find("cores: unknown physical, unknown logical, 1 usable"),
            std::string::npos);
}

TEST(MachineTest, JsonHasEveryFieldAndNullForUnknown) {
  const nlohmann::json j = nlohmann::json::parse(to_json(sample_machine()));
  EXPECT_EQ(j["cores"], 4);
  EXPECT_EQ(j["logical_cpus"], 8);
  EXPECT_EQ(j["usable_cpus"], 6);
  EXPECT_EQ(j["cpu_model"], "Sample CPU");
  EXPECT_EQ(j["memory_bytes"], 32ULL << 30);
  EXPECT_EQ(j["available_memory_bytes"], 20ULL << 30);
  ASSERT_EQ(j["numa_nodes"].size(), 2u);
  EXPECT_EQ(j["numa_nodes"][1]["cpus"], nlohmann::json({4, 5, 7}));
  ASSERT_EQ(j["gpus"].size(), 2u);
  EXPECT_EQ(j["gpus"][0]["compute_capability"], "9.0");
  EXPECT_EQ(j["gpus"][0]["pci_bus_id"], "0000:3b:00.0");
  EXPECT_TRUE(j["gpus"][1]["free_memory_bytes"].is_null());
  EXPECT_TRUE(j["gpus"][1]["pci_bus_id"].is_null());
  EXPECT_EQ(j["notes"], nlohmann::json({"GPU 1: free memory unknown"}));

  const nlohmann::json empty = nlohmann::json::parse(to_json(Machine{}));
  EXPECT_TRUE(empty["cores"].is_null());
  EXPECT_TRUE(empty["memory_bytes"].is_null());
  EXPECT_TRUE(empty["cpu_model"].is_null());
  EXPECT_TRUE(empty["gpus"].empty());
}

}  // namespace
}  // namespace trainflow
