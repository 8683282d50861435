// `trainflow bench`: one stage of a workflow, run again and again on the inputs its last run
// stored. The inputs are found through the run store (which output digest fed each input port)
// and read from the artifact store, decoded with the registry's codecs; the stage then runs in
// the graph of bench/stage_graph.hpp on an executor of exactly its grant. Baselines measured in
// this process right before each grant's runs: a stream copy over 256 MiB buffers (the memory
// bandwidth) and, for training stages, a GEMM of the stage's precision (the compute peak).
#include "bench_command.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "command.hpp"
#include "trainflow/bench/stage_graph.hpp"
#include "trainflow/config/workflow.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/ml/dataset.hpp"
#include "trainflow/ml/linear.hpp"
#include "trainflow/ml/logistic.hpp"
#include "trainflow/ml/mlp.hpp"
#include "trainflow/ml/stages.hpp"
#include "trainflow/registry/params.hpp"
#include "trainflow/registry/registry.hpp"
#include "trainflow/resources/machine.hpp"
#include "trainflow/store/artifact_store.hpp"
#include "trainflow/store/run_store.hpp"

// From GNU OpenMP, which oneDNN runs on: the calling thread's OpenMP team size.
extern "C" void omp_set_num_threads(int threads);
extern "C" int omp_get_max_threads();

namespace trainflow::cli {
namespace {

struct BenchArgs {
  CommonOptions common;
  std::string file;
  std::vector<std::string> overrides;
  std::string stage;
  std::vector<unsigned> threads;
  unsigned repetitions = 5;
  double min_time = 0;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs fn(i) on `threads` threads at once and returns the wall time from the common start until
// the last one finished.
double timed_on_threads(unsigned threads, const std::function<void(unsigned)>& fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&go, &fn, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(i);
    });
  }
  const Clock::time_point start = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& t : pool) t.join();
  return seconds_since(start);
}

// Copy bandwidth in bytes per second (bytes read plus bytes written), `threads` threads each
// copying its share of two 256 MiB buffers; the best of 5 copies.
double copy_bandwidth(unsigned threads) {
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  const auto src = std::make_unique<char[]>(kBytes);
  const auto dst = std::make_unique<char[]>(kBytes);
  std::memset(src.get(), 1, kBytes);  // fault the pages in before timing
  std::memset(dst.get(), 0, kBytes);
  const std::size_t share = kBytes / threads;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double s = timed_on_threads(threads, [&](unsigned i) {
      const std::size_t begin = i * share;
      const std::size_t size = i + 1 == threads ? kBytes - begin : share;
      std::memcpy(dst.get() + begin, src.get() + begin, size);
    });
    if (s > 0) best = std::max(best, 2.0 * static_cast<double>(kBytes) / s);
  }
  return best;
}

enum class Precision { kFp32, kFp64 };

// GEMM peak in FLOP/s: `threads` threads each multiplying its own two square matrices, the
// best of 3 after a warm-up. fp32 through oneDNN's sgemm on one OpenMP thread each (the MLP's
// library), fp64 through Eigen built like trainflow's own code (linear and logistic models).
double gemm_peak(unsigned threads, Precision precision) {
  constexpr int kN = 384;
  const double flop = 2.0 * kN * kN * kN * threads;
  std::vector<Eigen::MatrixXd> ad(threads, Eigen::MatrixXd::Constant(kN, kN, 0.5));
  std::vector<Eigen::MatrixXd> cd(threads, Eigen::MatrixXd::Zero(kN, kN));
  std::vector<std::vector<float>> af(threads, std::vector<float>(kN * kN, 0.5f));
  std::vector<std::vector<float>> cf(threads, std::vector<float>(kN * kN, 0.0f));
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const double s = timed_on_threads(threads, [&](unsigned i) {
      if (precision == Precision::kFp64) {
        cd[i].noalias() = ad[i] * ad[i];
      } else {
        const int previous = omp_get_max_threads();
        omp_set_num_threads(1);
        (void)dnnl_sgemm('N', 'N', kN, kN, kN, 1.0f, af[i].data(), kN, af[i].data(), kN, 0.0f,
                         cf[i].data(), kN);
        omp_set_num_threads(previous);
      }
    });
    if (rep > 0 && s > 0) best = std::max(best, flop / s);
  }
  return best;
}

// The precision of a training stage's arithmetic, or nullopt for stages that are not training.
std::optional<Precision> training_precision(const std::string& type) {
  if (type == "mlp_classifier" || type == "mlp_regressor") return Precision::kFp32;
  if (type == "linear_regression" || type == "logistic_regression") return Precision::kFp64;
  return std::nullopt;
}

std::size_t dataset_rows(const Value& v) {
  const auto* data = v.get_if<ml::Dataset>();
  return data ? data->num_rows() : 0;
}

// An estimate of the floating-point operations one run of a training stage did, from the fitted
// model (its shape and how many iterations it took) and its inputs' rows; nullopt when unknown.
// Linear: the Gram matrix X'X (2 n d^2) and its factorisation (d^3). Logistic: each evaluation of
// the objective and gradient reads X twice (4 n d k). MLP: 6 n W per epoch for the training rows
// (forward 2, backward 4, W the weights) plus 2 n W for the validation rows.
std::optional<double> estimated_flop(const std::string& type, const Value& model_value,
                                     const std::vector<Value>& inputs) {
  const auto* model = model_value.get_if<ml::ModelPtr>();
  if (model == nullptr || *model == nullptr || inputs.empty()) return std::nullopt;
  const auto n = static_cast<double>(dataset_rows(inputs[0]));
  const auto d = static_cast<double>((*model)->feature_names().size()) + 1;
  if (type == "linear_regression") return 2 * n * d * d + d * d * d;
  if (type == "logistic_regression") {
    const auto* logistic = dynamic_cast<const ml::LogisticModel*>(model->get());
    if (logistic == nullptr) return std::nullopt;
    const std::size_t classes = (*model)->classes().size();
    const double k = classes <= 2 ? 1.0 : static_cast<double>(classes);
    return 4 * n * d * k * static_cast<double>(logistic->fit_report().evaluations);
  }
  const auto* mlp = dynamic_cast<const ml::MlpModel*>(model->get());
  if (mlp == nullptr) return std::nullopt;
  double weights = 0;
  const std::vector<std::size_t>& sizes = mlp->layer_sizes();
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    weights += static_cast<double>(sizes[l]) * static_cast<double>(sizes[l + 1]);
  }
  const double val_rows = inputs.size() > 1 ? static_cast<double>(dataset_rows(inputs[1])) : 0;
  return static_cast<double>(mlp->report().epochs) * weights * (6 * n + 2 * val_rows);
}

// One input of the stage under test, loaded.
struct Input {
  std::string port;
  std::string from;  // "stage.port"
  Value value;
  std::uint64_t bytes = 0;  // the stored (encoded) size
};

// Finds the values feeding the stage in one recorded run.
class InputLoader {
 public:
  InputLoader(const config::Workflow& wf, const RunDetails& run, const ArtifactStore& artifacts)
      : wf_(wf), run_(run), artifacts_(artifacts) {}

  // Whether every value `ref` depends on is recorded and its artifact present (a stat each); the
  // first that is not, as a message, otherwise.
  std::optional<std::string> missing(PortRef ref) const {
    const config::WorkflowStage& from = wf_.stages[ref.stage];
    if (from.type == "gather") {
      for (const std::optional<PortRef>& source : wf_.graph.sources(ref.stage)) {
        if (!source) return "'" + from.name + "' has an unbound input";
        if (std::optional<std::string> why = missing(*source)) return why;
      }
      return std::nullopt;
    }
    const std::string port = wf_.graph.stage(ref.stage).outputs[ref.port].name;
    const StoredStage* stored = find(from.name);
    if (stored == nullptr) {
      return "run " + run_.summary.info.id + " did not record stage '" + from.name + "'";
    }
    const StageOutput* output = find_output(*stored, port);
    if (output == nullptr) {
      return "run " + run_.summary.info.id + " recorded no content for '" + from.name + "." + port +
             "' (stage " + stored->status + ", cache " + stored->cache_outcome + ")";
    }
    if (!from.settings.cache) {
      return "'" + from.name + "' has `cache: false` in the file, so its outputs are never stored";
    }
    if (!artifacts_.present(output->digest)) {
      return "the artifact of '" + from.name + "." + port + "' (" + output->digest.hex() +
             ") is no longer in " + artifacts_.root().string();
    }
    return std::nullopt;
  }

  // The value on output `ref`, read and decoded (a gather stage's by running it on its own
  // inputs); adds the stored bytes read to `bytes`.
  Result<Value> load(PortRef ref, std::uint64_t& bytes) const {
    const config::WorkflowStage& from = wf_.stages[ref.stage];
    const StageSpec& spec = wf_.graph.stage(ref.stage);
    if (from.type == "gather") {
      std::vector<Value> parts;
      for (const std::optional<PortRef>& source : wf_.graph.sources(ref.stage)) {
        if (!source) return failed_precondition("'" + from.name + "' has an unbound input");
        Result<Value> part = load(*source, bytes);
        if (!part) return part;
        parts.push_back(std::move(*part));
      }
      const auto id = static_cast<StageId>(parts.size());
      const Graph graph = bench::stage_graph(spec, parts, 1);
      Executor executor{{.threads = 1}};
      RunReport report = executor.run(graph, {.seed = wf_.seed, .timing = Timing::kNone});
      if (!report.ok()) return report.error();
      const Value* out = report.output({id, ref.port});
      if (out == nullptr)
        return internal_error("gather stage '" + from.name + "' produced nothing");
      return *out;
    }
    const std::string port = spec.outputs[ref.port].name;
    const StoredStage* stored = find(from.name);
    const StageOutput* output = stored ? find_output(*stored, port) : nullptr;
    if (output == nullptr)
      return not_found("no stored content for '" + from.name + "." + port + "'");
    const std::shared_ptr<const Codec> codec =
        default_registry().codec(spec.outputs[ref.port].type);
    if (codec == nullptr) {
      return failed_precondition("'" + from.name + "." + port +
                                 "' has a type that is never stored");
    }
    Result<std::string> data = artifacts_.get(output->digest);
    if (!data) {
      return Status(data.error().code(),
                    "reading '" + from.name + "." + port + "': " + data.error().message());
    }
    bytes += data->size();
    Result<Value> value = codec->decode(*data);
    if (!value) {
      return Status(value.error().code(),
                    "decoding '" + from.name + "." + port + "': " + value.error().message());
    }
    return value;
  }

 private:
  const StoredStage* find(const std::string& name) const {
    for (const StoredStage& s : run_.stages) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
  static const StageOutput* find_output(const StoredStage& stage, const std::string& port) {
    for (const StageOutput& o : stage.outputs) {
      if (o.port == port) return &o;
    }
    return nullptr;
  }

  const config::Workflow& wf_;
  const RunDetails& run_;
  const ArtifactStore& artifacts_;
};

// The graph stage `name` names: a graph stage name, or a file name with one graph stage. The
// error lists what the file has.
std::optional<StageId> find_stage(const config::Workflow& wf, const std::string& file,
                                  const std::string& name) {
  if (const auto id = wf.ids.find(name);
      id != wf.ids.end() && wf.stages[id->second].type != "gather") {
    return id->second;
  }
  if (const auto group = wf.groups.find(name); group != wf.groups.end()) {
    if (group->second.size() == 1) return group->second.front();
    std::cerr << "'" << name << "' is a sweep of " << group->second.size()
              << " trials; bench one of them:";
    for (StageId id : group->second) std::cerr << " '" << wf.stages[id].name << "'";
    std::cerr << "\n";
    return std::nullopt;
  }
  std::vector<std::string> names;
  for (const auto& [group_name, ids] : wf.groups) names.push_back(group_name);
  std::cerr << file << ": no stage called '" << name << "'";
  if (std::optional<std::string> near = closest_match(name, names)) {
    std::cerr << "; did you mean '" << *near << "'?";
  }
  std::cerr << "\nits stages:";
  for (const config::WorkflowStage& s : wf.stages) {
    if (s.type != "gather") std::cerr << " " << s.name;
  }
  std::cerr << "\n";
  return std::nullopt;
}

// "812 B", "12.3 kB", "1.23 MB", "4.56 GB" (decimal units, as throughput is given).
std::string human_bytes(double bytes) {
  char text[32];
  if (bytes < 1e4) {
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  } else if (bytes < 1e6) {
    std::snprintf(text, sizeof text, "%.1f kB", bytes / 1e3);
  } else if (bytes < 1e9) {
    std::snprintf(text, sizeof text, "%.2f MB", bytes / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
  }
  return text;
}

std::string fixed(double v, int digits) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string general(double v) {
  char text[48];
  std::snprintf(text, sizeof text, "%.3g", v);
  return text;
}

struct GrantResult {
  unsigned threads = 1;
  std::vector<double> seconds;  // one per run
  double copy_bytes_per_s = 0;
  std::optional<double> gemm_flops_per_s;
  std::optional<double> flop;  // per run, estimated
};

int bench(const BenchArgs& args) {
  config::LoadOptions options;
  options.overrides = args.overrides;
  Result<config::Workflow> loaded = config::load_workflow(args.file, options);
  if (!loaded) {
    std::cerr << loaded.error().message() << "\n";
    return kExitUsage;
  }
  const config::Workflow& wf = *loaded;
  const std::optional<StageId> target = find_stage(wf, args.file, args.stage);
  if (!target) return kExitUsage;
  const config::WorkflowStage& stage = wf.stages[*target];
  const StageSpec& spec = wf.graph.stage(*target);
  for (unsigned t : args.threads) {
    if (t < 1 || t > 1024) {
      std::cerr << "--threads " << t << ": give a thread count from 1 to 1024\n";
      return kExitUsage;
    }
  }

  const std::filesystem::path workdir = args.common.workdir;
  const std::string run_first =
      "run `trainflow run " + args.file + " --workdir " + args.common.workdir + "` first";
  if (!std::filesystem::exists(workdir / "runs.db")) {
    std::cerr << args.common.workdir << ": no runs recorded here (no runs.db); " << run_first
              << "\n";
    return kExitUsage;
  }
  Result<RunStore> store = RunStore::open(workdir / "runs.db");
  if (!store) {
    std::cerr << store.error().message() << "\n";
    return kExitUsage;
  }
  Result<std::vector<RunSummary>> runs = store->runs(0);
  if (!runs) {
    std::cerr << runs.error().message() << "\n";
    return kExitUsage;
  }
  // Newest first; succeeded runs before the others.
  std::vector<RunSummary> candidates;
  for (const RunSummary& r : *runs) {
    if (r.info.workflow == wf.name) candidates.push_back(r);
  }
  std::stable_partition(candidates.begin(), candidates.end(),
                        [](const RunSummary& r) { return r.status == "succeeded"; });
  if (candidates.empty()) {
    std::cerr << "no run of workflow '" << wf.name << "' is recorded in " << args.common.workdir
              << "; " << run_first << "\n";
    return kExitUsage;
  }
  Result<ArtifactStore> artifacts = ArtifactStore::open(workdir / "artifacts");
  if (!artifacts) {
    std::cerr << artifacts.error().message() << "\n";
    return kExitUsage;
  }

  const std::vector<std::optional<PortRef>> sources = wf.graph.sources(*target);
  std::optional<RunDetails> chosen;
  std::string first_problem;
  for (const RunSummary& candidate : candidates) {
    Result<RunDetails> details = store->run(candidate.info.id);
    if (!details) continue;
    std::optional<std::string> problem;
    const InputLoader loader(wf, *details, *artifacts);
    for (std::size_t i = 0; i < sources.size() && !problem; ++i) {
      if (!sources[i]) {
        problem = "input '" + spec.inputs[i].name + "' is unbound";
      } else if (std::optional<std::string> why = loader.missing(*sources[i])) {
        problem = "input '" + spec.inputs[i].name + "' is not cached: " + *why;
      }
    }
    if (!problem) {
      chosen = std::move(*details);
      break;
    }
    if (first_problem.empty()) first_problem = *problem;
  }
  if (!chosen) {
    std::cerr << "cannot bench '" << stage.name << "': no recorded run of '" << wf.name
              << "' has its inputs stored (" << candidates.size()
              << " runs looked at); in the newest, " << first_problem << ". To store them, "
              << run_first << " (without `cache: false` on the stages feeding it)\n";
    return kExitUsage;
  }

  std::vector<Input> inputs;
  std::vector<Value> values;
  const InputLoader loader(wf, *chosen, *artifacts);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const PortRef ref = *sources[i];
    Input input;
    input.port = spec.inputs[i].name;
    input.from = wf.stages[ref.stage].name + "." + wf.graph.stage(ref.stage).outputs[ref.port].name;
    Result<Value> value = loader.load(ref, input.bytes);
    if (!value) {
      std::cerr << "input '" << input.port << "' of '" << stage.name << "' (from " << input.from
                << "): " << value.error().message() << "; " << run_first << "\n";
      return kExitUsage;
    }
    input.value = std::move(*value);
    values.push_back(input.value);
    inputs.push_back(std::move(input));
  }
  std::uint64_t input_bytes = 0;
  std::uint64_t rows = 0;
  for (const Input& in : inputs) {
    input_bytes += in.bytes;
    rows += dataset_rows(in.value);
  }

  std::vector<unsigned> grants = args.threads;
  if (grants.empty()) {
    const unsigned usable = detect_machine({.cuda_driver = ""}).usable_cpus;
    for (unsigned g = 1; g < usable; g *= 2) grants.push_back(g);
    grants.push_back(usable);
  }
  const std::optional<Precision> precision = training_precision(stage.type);
  std::optional<std::uint64_t> output_bytes;
  std::vector<GrantResult> results;
  for (const unsigned grant : grants) {
    GrantResult result;
    result.threads = grant;
    result.copy_bytes_per_s = copy_bandwidth(grant);
    if (precision) result.gemm_flops_per_s = gemm_peak(grant, *precision);
    const Graph graph = bench::stage_graph(spec, values, grant);
    if (Status valid = graph.validate(); !valid.ok()) {
      std::cerr << "the stored inputs do not fit '" << stage.name << "' as the file has it now:\n"
                << valid.message() << "\n";
      return kExitUsage;
    }
    Executor executor{{.threads = grant}};
    const auto id = static_cast<StageId>(values.size());
    double total = 0;
    constexpr std::size_t kMaxRuns = 100000;
    while (result.seconds.size() < kMaxRuns &&
           (result.seconds.size() < args.repetitions || total < args.min_time)) {
      const Clock::time_point start = Clock::now();
      RunReport report = executor.run(graph, {.seed = wf.seed, .timing = Timing::kNone});
      const double s = seconds_since(start);
      if (!report.ok()) {
        std::cerr << report.error().message() << "\n";
        return kExitRunFailed;
      }
      if (result.seconds.empty()) {
        std::uint64_t out_bytes = 0;
        bool known = true;
        for (std::uint32_t p = 0; p < spec.outputs.size(); ++p) {
          const Value* out = report.output({id, p});
          if (out == nullptr || !out->has_value()) continue;
          if (const std::shared_ptr<const Codec> codec = default_registry().codec(out->type())) {
            out_bytes += codec->encode(*out).size();
          } else {
            known = false;
          }
          if (precision && out->type() == type_id<ml::ModelPtr>()) {
            result.flop = estimated_flop(stage.type, *out, values);
          }
        }
        if (known && !output_bytes) output_bytes = out_bytes;
      }
      result.seconds.push_back(s);
      total += s;
    }
    results.push_back(std::move(result));
  }

  const auto bytes_per_run = static_cast<double>(input_bytes + (output_bytes ? *output_bytes : 0));
  struct Summary {
    double median, min, max, bytes_per_s, rows_per_s, bandwidth_ratio;
    std::optional<double> flop_per_s, gemm_ratio;
  };
  const auto summarise = [&](const GrantResult& r) {
    std::vector<double> sorted = r.seconds;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    Summary s{};
    s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    s.min = sorted.front();
    s.max = sorted.back();
    s.bytes_per_s = s.median > 0 ? bytes_per_run / s.median : 0;
    s.rows_per_s = s.median > 0 ? static_cast<double>(rows) / s.median : 0;
    s.bandwidth_ratio = r.copy_bytes_per_s > 0 ? s.bytes_per_s / r.copy_bytes_per_s : 0;
    if (r.flop && s.median > 0) {
      s.flop_per_s = *r.flop / s.median;
      if (r.gemm_flops_per_s && *r.gemm_flops_per_s > 0) {
        s.gemm_ratio = *s.flop_per_s / *r.gemm_flops_per_s;
      }
    }
    return s;
  };
  const std::string precision_name =
      precision ? (*precision == Precision::kFp32 ? "fp32" : "fp64") : "";

  if (args.common.json) {
    using nlohmann::ordered_json;
    ordered_json in = ordered_json::array();
    for (const Input& i : inputs) {
      in.push_back({{"port", i.port},
                    {"from", i.from},
                    {"bytes", i.bytes},
                    {"rows", i.value.get_if<ml::Dataset>() ? ordered_json(dataset_rows(i.value))
                                                           : ordered_json(nullptr)}});
    }
    ordered_json out = ordered_json::array();
    for (const GrantResult& r : results) {
      const Summary s = summarise(r);
      ordered_json gemm = nullptr;
      if (precision) {
        gemm = {{"precision", precision_name},
                {"peak_flop_per_s",
                 r.gemm_flops_per_s ? ordered_json(*r.gemm_flops_per_s) : ordered_json(nullptr)},
                {"flop", r.flop ? ordered_json(*r.flop) : ordered_json(nullptr)},
                {"flop_per_s", s.flop_per_s ? ordered_json(*s.flop_per_s) : ordered_json(nullptr)},
                {"ratio", s.gemm_ratio ? ordered_json(*s.gemm_ratio) : ordered_json(nullptr)}};
      }
      out.push_back({{"threads", r.threads},
                     {"runs", r.seconds.size()},
                     {"median_s", s.median},
                     {"min_s", s.min},
                     {"max_s", s.max},
                     {"bytes_per_s", s.bytes_per_s},
                     {"rows_per_s", rows ? ordered_json(s.rows_per_s) : ordered_json(nullptr)},
                     {"copy_bytes_per_s", r.copy_bytes_per_s},
                     {"bandwidth_ratio", s.bandwidth_ratio},
                     {"gemm", std::move(gemm)}});
    }
    const ordered_json doc = {
        {"workflow", wf.name},
        {"stage", stage.name},
        {"type", stage.type},
        {"run_id", chosen->summary.info.id},
        {"inputs", std::move(in)},
        {"input_bytes", input_bytes},
        {"output_bytes", output_bytes ? ordered_json(*output_bytes) : ordered_json(nullptr)},
        {"results", std::move(out)}};
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }

  std::cout << "stage " << stage.name << " (" << stage.type << ") of " << wf.name
            << ", inputs from run " << chosen->summary.info.id << "\n";
  for (const Input& i : inputs) {
    std::cout << "  input " << i.port << ": " << human_bytes(static_cast<double>(i.bytes));
    if (i.value.get_if<ml::Dataset>()) std::cout << ", " << dataset_rows(i.value) << " rows";
    std::cout << " (" << i.from << ")\n";
  }
  std::cout << "  outputs: "
            << (output_bytes ? human_bytes(static_cast<double>(*output_bytes))
                             : std::string("size unknown (a type that is never stored)"))
            << "\n";
  for (const GrantResult& r : results) {
    const Summary s = summarise(r);
    std::cout << "threads=" << r.threads << ": median " << fixed(s.median * 1e3, 3) << " ms, min "
              << fixed(s.min * 1e3, 3) << " ms, max " << fixed(s.max * 1e3, 3) << " ms ("
              << r.seconds.size() << " runs); " << fixed(s.bytes_per_s / 1e6, 1) << " MB/s";
    if (rows) std::cout << ", " << general(s.rows_per_s) << " rows/s";
    std::cout << "; copy " << fixed(r.copy_bytes_per_s / 1e9, 2) << " GB/s, ratio "
              << fixed(s.bandwidth_ratio, 3) << "; GEMM ";
    if (!precision) {
      std::cout << "n/a (not a training stage)";
    } else if (!s.flop_per_s || !r.gemm_flops_per_s) {
      std::cout << precision_name << " " << fixed(r.gemm_flops_per_s.value_or(0) / 1e9, 1)
                << " GFLOP/s, ratio n/a (FLOP count unknown)";
    } else {
      std::cout << precision_name << " " << fixed(*r.gemm_flops_per_s / 1e9, 1)
                << " GFLOP/s, stage " << fixed(*s.flop_per_s / 1e9, 2)
                << " GFLOP/s estimated, ratio " << fixed(s.gemm_ratio.value_or(0), 3);
    }
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = add_command(
      app, "bench",
      "Run one stage repeatedly on the inputs stored by the last run of the workflow; print its "
      "times, throughput, and ratios to this machine's memory bandwidth and GEMM peak",
      args->common, JsonOutput::kYes);
  cmd->add_option("FILE", args->file, "The workflow file (YAML)")->required();
  cmd->add_option("--set", args->overrides,
                  "Override a parameter: stage.param=value (repeatable); the benched stage runs "
                  "with it, its inputs stay as stored");
  cmd->add_option("--stage", args->stage,
                  "The stage to run: a name in the file, or a sweep "
                  "trial's name (\"train[l2=0.1]\")")
      ->required();
  cmd->add_option("--threads", args->threads,
                  "Thread grant to measure (repeatable; default 1, 2, 4, ... up to the usable "
                  "CPUs)")
      ->type_name("N");
  cmd->add_option("--repetitions", args->repetitions, "Runs per thread grant (default 5)")
      ->check(CLI::Range(1U, 1000000U))
      ->type_name("R");
  cmd->add_option("--min-time", args->min_time,
                  "Keep running until the runs of a grant took this many seconds in all "
                  "(default 0)")
      ->check(CLI::Range(0.0, 86400.0))
      ->type_name("S");
  cmd->callback([args, &exit_code] { exit_code = bench(*args); });
}

}  // namespace trainflow::cli
