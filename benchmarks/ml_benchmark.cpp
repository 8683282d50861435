// ML kernel benchmarks: CSV parsing, the column transformer, logistic regression and MLP fits,
// each against a baseline measured in this binary (memory bandwidth, a plain read of the file,
// a from_chars loop, oneDNN matmul of the same shapes).
//
// The trainflow stages (read_csv, the column transformer, the fits) are registered with
// trainflow::bench::register_stage, so each runs as one stage of a real Executor with the case's
// thread grant; the baselines are plain loops on the benchmark thread.
//
// Names (parsed by scripts/bench; keep them stable). N is the thread count (grant):
//   csv/<file>/read_csv/threads:N         read_csv, CsvOptions::threads = N     bytes: file size
//   csv/<file>/mapped_sum/threads:N       mmap the file as read_csv does, sum its 8-byte words
//   csv/numeric/from_chars/threads:N      split on ',' and '\n', std::from_chars every field
//   bandwidth/copy/threads:N              b[i] = s * a[i] (STREAM "scale"), 16 bytes per element
//   bandwidth/copy_stream/threads:N       the same with non-temporal (streaming) stores, which
//                                         skip the read for ownership of each line written
//   bandwidth/copy_fresh/threads:N        the same into a new allocation every iteration (page
//                                         faults included, as for a transform's new columns)
//   bandwidth/triad/threads:N             a[i] = b[i] + s * c[i], 24 bytes per element
//   transform/fused/threads:N             FittedColumnTransformer::transform, threads = N
//   transform/fused_into/threads:N        FittedColumnTransformer::transform_into the same output
//                                         every run (buffers reused), threads = N; counters:
//                                         copy_GBps and stream_copy_GBps, the same bytes copied
//                                         in warm memory right after each run (ordinary and
//                                         streaming stores), and fraction_of_copy (the goal:
//                                         against the faster of the two copies)
//   transform/unfused/threads:1           the standalone transforms one after the other
//                                         (impute numeric, impute categorical, scale, one-hot)
//   logistic/fit/threads:N                fit_logistic_regression, max_iter fixed, L-BFGS
//   mlp/fit_1_epoch/threads:N             fit_mlp_classifier with max_epochs = 1
//   gemm/<shape>/mlp/threads:N            one training step of the MLP's network (private
//                                         MlpNetwork: forward + backward, no optimiser update)
//   gemm/<shape>/onednn/threads:N         dnnl::matmul of the same GEMMs, same threads
// Transform bytes are those an ideal pass moves: every input value it reads plus every output
// value it writes. GEMM items are floating-point operations (2 per multiply-add).
// Facts about the data (sizes, whether Fashion-MNIST was found) are in the JSON's "context".
//
// TRAINFLOW_BENCH_SMOKE=1 shrinks every data set so that one pass over all benchmarks takes
// seconds; CI uses it through `scripts/bench ml --smoke`.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <trainflow/bench/stage_benchmark.hpp>
#include <trainflow/ml/column_transformer.hpp>
#include <trainflow/ml/csv.hpp>
#include <trainflow/ml/idx.hpp>
#include <trainflow/ml/logistic.hpp>
#include <trainflow/ml/mlp.hpp>
#include <trainflow/trainflow.hpp>

#include "ml/mlp_network.hpp"  // private: the MLP's training step, for the GEMM comparison
#include "ml/omp_threads.hpp"  // private: the OpenMP thread count oneDNN uses

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tf = trainflow;
namespace ml = trainflow::ml;

namespace {

bool smoke_mode() {
  const char* v = std::getenv("TRAINFLOW_BENCH_SMOKE");
  return v != nullptr && *v != '\0' && std::string_view{v} != "0";
}

unsigned cores() {
  return std::max(1u, std::thread::hardware_concurrency());
}

// 1 and all cores.
std::vector<unsigned> grants() {
  std::vector<unsigned> g{1};
  if (cores() > 1) g.push_back(cores());
  return g;
}

// Benchmarks longer than a few ms need few iterations; smoke runs take the command line's.
template <class B>
B* timing(B* b, double min_time) {
  b->Unit(benchmark::kMillisecond);
  if (!smoke_mode()) b->MinTime(min_time);
  return b;
}

// Runs task(i) for i in [0, n): task(0) on the caller, the others on their own threads.
template <class Task>
void parallel(unsigned n, const Task& task) {
  std::vector<std::thread> threads;
  threads.reserve(n > 0 ? n - 1 : 0);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&task, i] { task(i); });
  task(0);
  for (auto& t : threads) t.join();
}

// [begin, end) of part i of n equal parts of [0, size), rounded down to multiples of `align`.
std::pair<std::size_t, std::size_t> part(std::size_t size, unsigned i, unsigned n,
                                         std::size_t align = 1) {
  const std::size_t begin = size / align * i / n * align;
  const std::size_t end = i + 1 == n ? size : size / align * (i + 1) / n * align;
  return {begin, end};
}

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

// --- Temporary files -----------------------------------------------------------------------------

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("trainflow_ml_bench_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A read-only mapping of a whole file, made as read_csv makes it.
class Mapping {
 public:
  Mapping(int fd, std::size_t size) : size_(size) {
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      return;
    }
    ::madvise(data_, size_, MADV_WILLNEED);
  }
  ~Mapping() {
    if (data_) ::munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const char* data() const { return static_cast<const char*>(data_); }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_;
};

struct CsvFile {
  std::string path;
  std::int64_t bytes = 0;
  std::int64_t rows = 0;
};

// A number as a CSV field: normal values times 10^k, k in [-2, 3], 7 significant digits.
void append_number(std::string& out, std::mt19937_64& rng) {
  static std::normal_distribution<double> normal;
  static constexpr double kScale[] = {0.01, 0.1, 1, 10, 100, 1000};
  const double v = normal(rng) * kScale[rng() % 6];
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 7);
  out.append(buf, r.ptr);
}

// Writes a CSV file of about `target_bytes`: `numeric` number columns, then `categorical` text
// columns (column j has 4 << (j % 6) distinct values), a share `missing` of fields empty or "NA".
CsvFile write_csv(const std::filesystem::path& path, std::size_t target_bytes, int numeric,
                  int categorical, double missing, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> unit;
  std::ofstream file(path, std::ios::binary);
  std::string buf;
  for (int j = 0; j < numeric + categorical; ++j) {
    if (j > 0) buf += ',';
    buf += (j < numeric ? "f" : "c") + std::to_string(j);
  }
  buf += '\n';
  CsvFile out{path.string(), 0, 0};
  std::size_t written = 0;
  while (written + buf.size() < target_bytes) {
    for (int j = 0; j < numeric + categorical; ++j) {
      if (j > 0) buf += ',';
      if (missing > 0 && unit(rng) < missing) {
        if (j >= numeric) buf += "NA";
        continue;
      }
      if (j < numeric) {
        append_number(buf, rng);
      } else {
        const int k = j - numeric;
        buf += "cat" + std::to_string(k) + "_" + std::to_string(rng() % (4u << (k % 6)));
      }
    }
    buf += '\n';
    ++out.rows;
    if (buf.size() > (1u << 20)) {
      file.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      written += buf.size();
      buf.clear();
    }
  }
  file.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  written += buf.size();
  out.bytes = static_cast<std::int64_t>(written);
  return out;
}

// --- CSV -----------------------------------------------------------------------------------------

// The plain read of the file: map it as read_csv does and sum its 8-byte words on n threads.
void bm_mapped_sum(benchmark::State& state, const CsvFile& csv) {
  const auto n = static_cast<unsigned>(state.range(0));
  const int fd = ::open(csv.path.c_str(), O_RDONLY);
  if (fd < 0) {
    state.SkipWithError("cannot open the CSV file");
    return;
  }
  std::vector<std::uint64_t> sums(n * 8);
  for (auto _ : state) {
    Mapping map(fd, static_cast<std::size_t>(csv.bytes));
    if (!map.data()) {
      state.SkipWithError("mmap failed");
      break;
    }
    const std::size_t words = map.size() / 8;
    parallel(n, [&](unsigned i) {
      auto [begin, end] = part(words, i, n);
      std::uint64_t s = 0;
      for (std::size_t w = begin; w < end; ++w) {
        std::uint64_t x;
        std::memcpy(&x, map.data() + 8 * w, 8);
        s += x;
      }
      sums[i * 8] = s;
    });
    benchmark::DoNotOptimize(sums.data());
  }
  ::close(fd);
  state.SetBytesProcessed(state.iterations() * csv.bytes);
}

// Number parsing alone: split the numeric file at ',' and '\n' and std::from_chars every field
// (chunks cut at line ends, one per thread).
void bm_from_chars(benchmark::State& state, const CsvFile& csv) {
  const auto n = static_cast<unsigned>(state.range(0));
  const int fd = ::open(csv.path.c_str(), O_RDONLY);
  if (fd < 0) {
    state.SkipWithError("cannot open the CSV file");
    return;
  }
  std::vector<double> sums(n * 8);
  for (auto _ : state) {
    Mapping map(fd, static_cast<std::size_t>(csv.bytes));
    const char* data = map.data();
    const char* end = data + map.size();
    const char* first = std::find(data, end, '\n') + 1;  // after the header
    const auto body = static_cast<std::size_t>(end - first);
    parallel(n, [&](unsigned i) {
      auto [b, e] = part(body, i, n);
      const char* p = first + b;
      const char* stop = first + e;
      if (i > 0) p = std::find(p - 1, end, '\n') + 1;  // start on a line
      if (i + 1 < n) stop = std::min(end, std::find(stop - 1, end, '\n') + 1);
      double s = 0;
      while (p < stop) {
        const char* q = p;
        while (q < stop && *q != ',' && *q != '\n') ++q;
        double v = 0;
        std::from_chars(p, q, v);
        s += v;
        p = q + 1;
      }
      sums[i * 8] = s;
    });
    benchmark::DoNotOptimize(sums.data());
  }
  ::close(fd);
  state.SetBytesProcessed(state.iterations() * csv.bytes);
}

void register_csv(const std::string& label, const CsvFile& csv, bool from_chars) {
  tf::bench::register_stage(
      "csv/" + label + "/read_csv",
      [](tf::StageContext& ctx, const std::string& path) {
        ml::CsvOptions options;
        options.threads = ctx.threads();
        return ml::read_csv(path, options);
      },
      tf::bench::inputs(csv.path),
      {.threads = grants(), .items_per_run = csv.rows, .bytes_per_run = csv.bytes})
      ->Unit(benchmark::kMillisecond)
      ->MinTime(smoke_mode() ? 0.01 : 1.0);
  for (unsigned n : grants()) {
    timing(
        benchmark::RegisterBenchmark(("csv/" + label + "/mapped_sum").c_str(), bm_mapped_sum, csv),
        0.5)
        ->ArgName("threads")
        ->Arg(n)
        ->UseRealTime();
    if (from_chars) {
      timing(benchmark::RegisterBenchmark(("csv/" + label + "/from_chars").c_str(), bm_from_chars,
                                          csv),
             0.5)
          ->ArgName("threads")
          ->Arg(n)
          ->UseRealTime();
    }
  }
}

// --- Memory bandwidth ----------------------------------------------------------------------------

struct Arrays {
  std::vector<double> a, b, c;
};

// The copy kernel: b[j] = s * a[j] for j in [0, size) on n threads (parts of 8 elements). The
// scale comes from a volatile at the call sites, so the loop stays a streaming loop rather than
// a memcpy, whose non-temporal stores an ordinary kernel cannot use.
void scale_copy(unsigned n, const double* a, double* b, std::size_t size, double s) {
  parallel(n, [&](unsigned i) {
    auto [begin, end] = part(size, i, n, 8);
    for (std::size_t j = begin; j < end; ++j) b[j] = s * a[j];
  });
}

// The copy kernel with non-temporal stores (SSE2, two doubles per store): each written line
// goes to memory whole, without the read for ownership an ordinary store makes, the fastest copy
// of data larger than the cache. Parts are multiples of 8 elements, so stores are aligned when
// the arrays are.
void scale_copy_stream(unsigned n, const double* a, double* b, std::size_t size, double s) {
  parallel(n, [&](unsigned i) {
    auto [begin, end] = part(size, i, n, 8);
    std::size_t j = begin;
#if defined(__SSE2__)
    const __m128d scale = _mm_set1_pd(s);
    if (reinterpret_cast<std::uintptr_t>(b + j) % 16 == 0) {
      for (; j + 2 <= end; j += 2) _mm_stream_pd(b + j, _mm_mul_pd(scale, _mm_loadu_pd(a + j)));
    }
#endif
    for (; j < end; ++j) b[j] = s * a[j];
#if defined(__SSE2__)
    _mm_sfence();
#endif
  });
}

double volatile_one() {
  volatile double source = 1.0;
  return source;
}

using CopyKernel = void (*)(unsigned, const double*, double*, std::size_t, double);

// `copy` (scale_copy or scale_copy_stream) of x.a into x.b.
void bm_copy(benchmark::State& state, Arrays& x, CopyKernel copy) {
  const auto n = static_cast<unsigned>(state.range(0));
  const std::size_t size = x.a.size();
  const double s = volatile_one();
  for (auto _ : state) {
    copy(n, x.a.data(), x.b.data(), size, s);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(16 * size));
}

// As bm_copy, into memory freshly obtained from the allocator on every iteration (as a transform
// that returns new columns writes): the kernel's page faults, zeroing pages, are paid in the loop.
void bm_copy_fresh(benchmark::State& state, Arrays& x) {
  const auto n = static_cast<unsigned>(state.range(0));
  const std::size_t size = x.a.size();
  const double s = volatile_one();
  for (auto _ : state) {
    std::unique_ptr<double[]> fresh(new double[size]);
    scale_copy(n, x.a.data(), fresh.get(), size, s);
    benchmark::DoNotOptimize(fresh.get());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(16 * size));
}

void bm_triad(benchmark::State& state, Arrays& x) {
  const auto n = static_cast<unsigned>(state.range(0));
  const std::size_t size = x.a.size();
  volatile double scale_source = 3.0;
  const double s = scale_source;
  for (auto _ : state) {
    parallel(n, [&](unsigned i) {
      auto [begin, end] = part(size, i, n, 8);
      double* a = x.a.data();
      const double* b = x.b.data();
      const double* c = x.c.data();
      for (std::size_t j = begin; j < end; ++j) a[j] = b[j] + s * c[j];
    });
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(24 * size));
}

// --- Column transformer --------------------------------------------------------------------------

// Everything the unfused chain needs: the standalone fitted transforms, in order.
struct UnfusedChain {
  ml::FittedImputer numeric_imputer;
  ml::FittedImputer categorical_imputer;
  ml::FittedScaler scaler;
  ml::FittedOneHotEncoder one_hot;
};

struct TransformData {
  ml::Dataset data;
  std::shared_ptr<ml::FittedColumnTransformer> fused;
  std::shared_ptr<UnfusedChain> unfused;
  std::int64_t ideal_bytes = 0;  // read + written by an ideal pass
  std::string description;
};

template <class T>
T must(tf::Result<T> r, const char* what) {
  if (!r.has_value()) {
    std::fprintf(stderr, "ml_benchmark: %s: %s\n", what, r.error().message().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

TransformData make_transform_data(std::size_t rows) {
  constexpr int kNumeric = 16;
  constexpr int kCategorical = 4;
  constexpr int kCategories = 8;
  std::mt19937_64 rng{7};
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit;
  std::vector<ml::Column> columns;
  for (int j = 0; j < kNumeric; ++j) {
    std::vector<double> v(rows);
    for (auto& x : v) x = unit(rng) < 0.05 ? std::nan("") : 10 * j + normal(rng);
    columns.push_back(ml::Column::float64("x" + std::to_string(j), std::move(v)));
  }
  std::vector<std::string> categories;
  for (int k = 0; k < kCategories; ++k) categories.push_back("v" + std::to_string(k));
  for (int j = 0; j < kCategorical; ++j) {
    std::vector<std::int32_t> codes(rows);
    for (auto& c : codes)
      c = unit(rng) < 0.03 ? -1 : static_cast<std::int32_t>(rng() % kCategories);
    columns.push_back(
        ml::Column::categorical("c" + std::to_string(j), std::move(codes), categories));
  }
  std::vector<double> y(rows);
  for (auto& v : y) v = normal(rng);
  columns.push_back(ml::Column::float64("y", std::move(y)));
  TransformData out;
  out.data = must(ml::Dataset::make(std::move(columns), "y"), "transform data");
  const ml::Dataset train = out.data.slice(0, std::min<std::size_t>(rows, 100000));

  const ml::SimpleImputerOptions mean{.strategy = ml::ImputeStrategy::kMean};
  const ml::SimpleImputerOptions most_frequent{.strategy = ml::ImputeStrategy::kMostFrequent};
  const ml::OneHotEncoderOptions one_hot{.unknown = ml::OneHotEncoderOptions::Unknown::kIgnore};
  ml::ColumnTransformer transformer(
      {.steps = {ml::NumericStep{.impute = mean, .scale = ml::StandardScalerOptions{}},
                 ml::CategoricalStep{.impute = most_frequent, .encode = one_hot}}});
  out.fused = std::make_shared<ml::FittedColumnTransformer>(
      must(transformer.fit(train), "column transformer fit"));

  std::vector<std::string> numeric_names, categorical_names;
  for (std::size_t i : train.numeric_feature_indices()) {
    numeric_names.push_back(train.column(i).name());
  }
  for (std::size_t i : train.categorical_feature_indices()) {
    categorical_names.push_back(train.column(i).name());
  }
  auto numeric_imputer = must(ml::SimpleImputer(mean).fit(train, numeric_names), "imputer fit");
  auto categorical_imputer =
      must(ml::SimpleImputer(most_frequent).fit(train, categorical_names), "imputer fit");
  const ml::Dataset imputed = must(
      categorical_imputer.transform(must(numeric_imputer.transform(train), "impute")), "impute");
  auto scaler = must(ml::StandardScaler().fit(imputed, numeric_names), "scaler fit");
  auto encoder = must(ml::OneHotEncoder(one_hot).fit(imputed, categorical_names), "one-hot fit");
  out.unfused = std::make_shared<UnfusedChain>(UnfusedChain{std::move(numeric_imputer),
                                                            std::move(categorical_imputer),
                                                            std::move(scaler), std::move(encoder)});

  // An ideal pass reads every feature value once and writes every output value once (float64;
  // the target is shared, not copied).
  std::size_t outputs = 0;
  for (const auto& name : out.fused->output_columns()) outputs += name != "y";
  out.ideal_bytes =
      static_cast<std::int64_t>(rows * (kNumeric * 8 + kCategorical * 4) + rows * outputs * 8);
  out.description =
      std::to_string(rows) + " rows; " + std::to_string(kNumeric) +
      " float64 columns (5% missing): mean imputation + standard scaling; " +
      std::to_string(kCategorical) + " categorical columns of " + std::to_string(kCategories) +
      " categories (3% missing): most-frequent imputation + one-hot; " + std::to_string(outputs) +
      " float64 output columns; ideal pass " + mb(static_cast<double>(out.ideal_bytes));
  return out;
}

// transform_into the same output dataset, run after run, so that its buffers are reused (warm);
// and, in every iteration, right after it, its baselines: both of bm_copy's kernels on as many
// bytes as the ideal pass moves, from and into arrays already mapped, on the same threads. The
// time reported is the transform's; counters: copy_GBps and stream_copy_GBps (the baselines'
// rates) and fraction_of_copy (the faster baseline's time / transform time over all iterations:
// the goal's measure, taken in alternation so that all see the same load).
void bm_transform_into(benchmark::State& state, const TransformData& t) {
  const auto n = static_cast<unsigned>(state.range(0));
  const ml::ColumnTransformOptions options{.threads = n};
  ml::Dataset out;
  for (int warm = 0; warm < 2; ++warm) {  // the first allocates, the second maps every page
    if (tf::Status status = t.fused->transform_into(t.data, out, options); !status.ok()) {
      state.SkipWithError(status.message().c_str());
      return;
    }
  }
  const auto size = static_cast<std::size_t>(t.ideal_bytes / 16);
  const std::vector<double> from(size, 1.0);
  std::vector<double> to(size, 0.0);
  const double s = volatile_one();
  using clock = std::chrono::steady_clock;
  double transform_s = 0;
  double copy_s = 0;
  double stream_s = 0;
  for (auto _ : state) {
    const auto start = clock::now();
    const tf::Status status = t.fused->transform_into(t.data, out, options);
    const auto middle = clock::now();
    scale_copy(n, from.data(), to.data(), size, s);
    benchmark::ClobberMemory();
    const auto copied = clock::now();
    scale_copy_stream(n, from.data(), to.data(), size, s);
    benchmark::ClobberMemory();
    const auto end = clock::now();
    if (!status.ok()) {
      state.SkipWithError(status.message().c_str());
      break;
    }
    const double seconds = std::chrono::duration<double>(middle - start).count();
    state.SetIterationTime(seconds);
    transform_s += seconds;
    copy_s += std::chrono::duration<double>(copied - middle).count();
    stream_s += std::chrono::duration<double>(end - copied).count();
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(state.iterations() * t.ideal_bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(t.data.num_rows()));
  state.counters["copy_GBps"] = static_cast<double>(16 * size) * iterations / copy_s / 1e9;
  state.counters["stream_copy_GBps"] = static_cast<double>(16 * size) * iterations / stream_s / 1e9;
  state.counters["fraction_of_copy"] = std::min(copy_s, stream_s) / transform_s;
}

void register_transform(const TransformData& t) {
  for (unsigned n : grants()) {
    timing(benchmark::RegisterBenchmark("transform/fused_into", bm_transform_into, std::cref(t)),
           0.5)
        ->ArgName("threads")
        ->Arg(n)
        ->UseManualTime();
  }
  const auto rows = static_cast<std::int64_t>(t.data.num_rows());
  tf::bench::register_stage(
      "transform/fused",
      [](tf::StageContext& ctx, const std::shared_ptr<ml::FittedColumnTransformer>& fitted,
         const ml::Dataset& data) { return fitted->transform(data, {.threads = ctx.threads()}); },
      tf::bench::inputs(t.fused, t.data),
      {.threads = grants(), .items_per_run = rows, .bytes_per_run = t.ideal_bytes})
      ->Unit(benchmark::kMillisecond)
      ->MinTime(smoke_mode() ? 0.01 : 0.5);
  // The standalone transforms take no thread count: one thread.
  tf::bench::register_stage("transform/unfused",
                            [](const std::shared_ptr<UnfusedChain>& chain,
                               const ml::Dataset& data) -> tf::Result<ml::Dataset> {
                              auto a = chain->numeric_imputer.transform(data);
                              if (!a) return a.error();
                              auto b = chain->categorical_imputer.transform(*a);
                              if (!b) return b.error();
                              auto c = chain->scaler.transform(*b);
                              if (!c) return c.error();
                              return chain->one_hot.transform(*c);
                            },
                            tf::bench::inputs(t.unfused, t.data),
                            {.threads = {1}, .items_per_run = rows, .bytes_per_run = t.ideal_bytes})
      ->Unit(benchmark::kMillisecond)
      ->MinTime(smoke_mode() ? 0.01 : 0.5);
}

// --- Models on Fashion-MNIST ---------------------------------------------------------------------

constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's training set, or a synthetic set of the same shape (60000 x 784 float32 in
// [0, 1], 10 classes) when the files are missing; `source` says which.
ml::Dataset fashion_mnist(std::size_t max_rows, std::string& source) {
  const std::filesystem::path dir{kFashionDir};
  auto read = ml::read_idx(dir / "train-images-idx3-ubyte.gz", dir / "train-labels-idx1-ubyte.gz",
                           {.max_rows = max_rows});
  if (read.has_value()) {
    source = "Fashion-MNIST training set (" + std::string(kFashionDir) + ")";
    return std::move(*read);
  }
  std::fprintf(stderr, "ml_benchmark: %s; using a synthetic set of the same shape\n",
               read.error().message().c_str());
  const std::size_t rows = max_rows ? max_rows : 60000;
  std::mt19937_64 rng{11};
  std::uniform_real_distribution<float> unit;
  std::vector<std::int32_t> labels(rows);
  for (auto& l : labels) l = static_cast<std::int32_t>(rng() % 10);
  std::vector<ml::Column> columns;
  for (int j = 0; j < 784; ++j) {
    std::vector<float> v(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      v[r] = std::min(1.0f, 0.5f * unit(rng) + 0.05f * static_cast<float>((labels[r] + j) % 10));
    }
    columns.push_back(ml::Column::float32("px" + std::to_string(j), std::move(v)));
  }
  std::vector<std::string> classes;
  for (int k = 0; k < 10; ++k) classes.push_back(std::to_string(k));
  columns.push_back(ml::Column::categorical("label", std::move(labels), classes));
  source = "SYNTHETIC stand-in (" + std::string(kFashionDir) +
           " not readable): 60000 x 784 float32, 10 classes";
  return must(ml::Dataset::make(std::move(columns), "label"), "synthetic set");
}

const std::vector<std::size_t> kHidden{256, 256};

void register_models(const ml::Dataset& train, std::size_t logistic_iterations) {
  const auto rows = static_cast<std::int64_t>(train.num_rows());
  // One fit decides how many objective evaluations max_iter iterations take (the same at every
  // thread count: the fit is bit-identical), so that items are rows x evaluations.
  const ml::LogisticRegressionOptions logistic{.max_iter = logistic_iterations};
  const auto probe = must(ml::fit_logistic_regression(train, logistic), "logistic fit");
  const auto evaluations = static_cast<std::int64_t>(probe.fit_report().evaluations);
  benchmark::AddCustomContext("logistic_iterations", std::to_string(probe.fit_report().iterations));
  benchmark::AddCustomContext("logistic_evaluations", std::to_string(evaluations));
  tf::bench::register_stage("logistic/fit",
                            [logistic](tf::StageContext& ctx, const ml::Dataset& data) {
                              ml::LogisticRegressionOptions options = logistic;
                              options.threads = ctx.threads();
                              return ml::fit_logistic_regression(data, options);
                            },
                            tf::bench::inputs(train),
                            {.threads = grants(), .items_per_run = rows * evaluations})
      ->Unit(benchmark::kMillisecond)
      ->MinTime(smoke_mode() ? 0.01 : 1.0);

  // FLOPs of one epoch: forward and weight gradients of every layer, data gradients of all but
  // the first (2 per multiply-add).
  std::vector<std::size_t> sizes{784};
  sizes.insert(sizes.end(), kHidden.begin(), kHidden.end());
  sizes.push_back(10);
  double flops = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    flops += 2.0 * static_cast<double>(rows * sizes[l] * sizes[l + 1]) * (l == 0 ? 2 : 3);
  }
  benchmark::AddCustomContext("mlp_epoch_flops", std::to_string(flops));
  tf::bench::register_stage("mlp/fit_1_epoch",
                            [](tf::StageContext& ctx, const ml::Dataset& data) {
                              return ml::fit_mlp_classifier(data, {.hidden_layers = kHidden,
                                                                   .batch_size = 200,
                                                                   .max_epochs = 1,
                                                                   .threads = ctx.threads()});
                            },
                            tf::bench::inputs(train), {.threads = grants(), .items_per_run = rows})
      ->Unit(benchmark::kMillisecond)
      ->MinTime(smoke_mode() ? 0.01 : 1.0);
}

// --- GEMM: the MLP's training step against oneDNN matmul ----------------------------------------

struct GemmShape {
  std::string name;
  std::vector<std::size_t> sizes;  // the network: inputs, widths...
  std::size_t batch;
};

// FLOPs of one training step of `shape` as MlpNetwork runs it (see above).
double step_flops(const GemmShape& s) {
  double flops = 0;
  for (std::size_t l = 0; l + 1 < s.sizes.size(); ++l) {
    flops += 2.0 * static_cast<double>(s.batch * s.sizes[l] * s.sizes[l + 1]) * (l == 0 ? 2 : 3);
  }
  return flops;
}

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

void bm_mlp_step(benchmark::State& state, const GemmShape& shape) {
  const auto n = static_cast<std::size_t>(state.range(0));
  ml::detail::OmpThreads threads(n);
  ml::detail::MlpParameters params;
  params.sizes = shape.sizes;
  for (std::size_t l = 0; l + 1 < shape.sizes.size(); ++l) {
    params.weights.push_back(random_floats(shape.sizes[l] * shape.sizes[l + 1], l));
    params.biases.push_back(random_floats(shape.sizes[l + 1], 100 + l));
  }
  ml::detail::MlpNetwork network(params, ml::MlpActivation::kRelu, ml::detail::MlpOutput::kIdentity,
                                 /*training=*/true, shape.batch);
  const auto input = random_floats(shape.batch * shape.sizes[0], 7);
  std::copy(input.begin(), input.end(), network.input().begin());
  const auto values = random_floats(shape.batch * shape.sizes.back(), 8);
  for (auto _ : state) {
    network.forward(shape.batch);
    benchmark::DoNotOptimize(network.backward(shape.batch, {}, values, 1e-4));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(step_flops(shape)));
}

// The same GEMMs as dnnl::matmul on the inner product's layouts (activations rows x width
// row-major, weights out x in row-major): per layer the forward dst = src W^T, the weight
// gradient dW = diff_dst^T src and, after the first layer, the data gradient diff_src =
// diff_dst W.
void bm_onednn_step(benchmark::State& state, const GemmShape& shape) {
  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  const auto n = static_cast<std::size_t>(state.range(0));
  ml::detail::OmpThreads threads(n);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  struct Gemm {
    dnnl::matmul primitive;
    dnnl::memory a, b, c;
  };
  std::vector<Gemm> gemms;
  std::vector<std::vector<float>> buffers;
  auto make = [&](dnnl::memory::dim m, dnnl::memory::dim k, dnnl::memory::dim nn, tag a_tag,
                  tag b_tag) {
    const dnnl::memory::desc a_md({m, k}, dt::f32, a_tag);
    const dnnl::memory::desc b_md({k, nn}, dt::f32, b_tag);
    const dnnl::memory::desc c_md({m, nn}, dt::f32, tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine);
    buffers.push_back(random_floats(static_cast<std::size_t>(m * k), buffers.size()));
    float* a = buffers.back().data();
    buffers.push_back(random_floats(static_cast<std::size_t>(k * nn), buffers.size()));
    float* b = buffers.back().data();
    buffers.emplace_back(static_cast<std::size_t>(m * nn));
    float* c = buffers.back().data();
    gemms.push_back({dnnl::matmul(pd), dnnl::memory(a_md, engine, a), dnnl::memory(b_md, engine, b),
                     dnnl::memory(c_md, engine, c)});
  };
  buffers.reserve(64);  // pointers into the vectors stay valid
  const auto batch = static_cast<dnnl::memory::dim>(shape.batch);
  for (std::size_t l = 0; l + 1 < shape.sizes.size(); ++l) {
    const auto in = static_cast<dnnl::memory::dim>(shape.sizes[l]);
    const auto out = static_cast<dnnl::memory::dim>(shape.sizes[l + 1]);
    make(batch, in, out, tag::ab, tag::ba);             // forward: src (b x in) W^T (in x out)
    make(out, batch, in, tag::ba, tag::ab);             // dW: diff_dst^T (out x b) src (b x in)
    if (l > 0) make(batch, out, in, tag::ab, tag::ab);  // diff_src: diff_dst (b x out) W
  }
  for (auto _ : state) {
    for (auto& g : gemms) {
      g.primitive.execute(stream,
                          {{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_DST, g.c}});
    }
    stream.wait();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(step_flops(shape)));
}

void register_gemm() {
  static const std::vector<GemmShape> shapes{
      {"step_784-256-256_b200", {784, 256, 256}, 200},
      {"layer_784-256_b200", {784, 256}, 200},
      {"layer_256-256_b200", {256, 256}, 200},
      {"step_784-256-256_b1000", {784, 256, 256}, 1000},
  };
  for (const auto& shape : shapes) {
    for (unsigned n : grants()) {
      timing(
          benchmark::RegisterBenchmark(("gemm/" + shape.name + "/mlp").c_str(), bm_mlp_step, shape),
          0.3)
          ->ArgName("threads")
          ->Arg(n)
          ->UseRealTime();
      timing(benchmark::RegisterBenchmark(("gemm/" + shape.name + "/onednn").c_str(),
                                          bm_onednn_step, shape),
             0.3)
          ->ArgName("threads")
          ->Arg(n)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const bool smoke = smoke_mode();

  // CSV files, written once to a temporary directory (removed at exit) and left in the page
  // cache, so that every case reads memory, not the disk.
  TempDir dir;
  const CsvFile numeric =
      write_csv(dir.path() / "numeric.csv", smoke ? (2u << 20) : (160u << 20), 20, 0, 0.0, 1);
  const CsvFile mixed =
      write_csv(dir.path() / "mixed.csv", smoke ? (2u << 20) : (120u << 20), 12, 6, 0.02, 2);
  benchmark::AddCustomContext(
      "csv_numeric", mb(static_cast<double>(numeric.bytes)) + ", " + std::to_string(numeric.rows) +
                         " rows of 20 numbers (7 significant digits, magnitudes 0.01 to 1000)");
  benchmark::AddCustomContext(
      "csv_mixed", mb(static_cast<double>(mixed.bytes)) + ", " + std::to_string(mixed.rows) +
                       " rows of 12 numbers and 6 text categories (4 to 128 values), 2% missing");
  register_csv("numeric", numeric, true);
  register_csv("mixed", mixed, false);

  // Arrays far larger than the caches (3 x 256 MB).
  Arrays arrays;
  const std::size_t n = smoke ? (1u << 20) : (32u << 20);
  arrays.a.assign(n, 1.0);
  arrays.b.assign(n, 2.0);
  arrays.c.assign(n, 3.0);
  benchmark::AddCustomContext("bandwidth_arrays", std::to_string(n) + " doubles (" +
                                                      mb(8.0 * static_cast<double>(n)) + ") each");
  for (unsigned g : grants()) {
    timing(benchmark::RegisterBenchmark("bandwidth/copy", bm_copy, std::ref(arrays), scale_copy),
           0.5)
        ->ArgName("threads")
        ->Arg(g)
        ->UseRealTime();
    timing(benchmark::RegisterBenchmark("bandwidth/copy_stream", bm_copy, std::ref(arrays),
                                        scale_copy_stream),
           0.5)
        ->ArgName("threads")
        ->Arg(g)
        ->UseRealTime();
    timing(benchmark::RegisterBenchmark("bandwidth/copy_fresh", bm_copy_fresh, std::ref(arrays)),
           0.5)
        ->ArgName("threads")
        ->Arg(g)
        ->UseRealTime();
    timing(benchmark::RegisterBenchmark("bandwidth/triad", bm_triad, std::ref(arrays)), 0.5)
        ->ArgName("threads")
        ->Arg(g)
        ->UseRealTime();
  }

  const TransformData transform = make_transform_data(smoke ? 20000 : 2000000);
  benchmark::AddCustomContext("transform_data", transform.description);
  register_transform(transform);

  std::string source;
  const ml::Dataset fashion = fashion_mnist(smoke ? 2000 : 0, source);
  benchmark::AddCustomContext("fashion_mnist", source);
  benchmark::AddCustomContext("fashion_mnist_rows", std::to_string(fashion.num_rows()));
  register_models(fashion, smoke ? 2 : 10);

  register_gemm();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
