#include "trainflow/ml/column_transformer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <unistd.h>

#include "column_transform.hpp"
#include "parallel.hpp"
#include "streaming_stores.hpp"

#if TRAINFLOW_ML_AVX2_KERNELS
#include <immintrin.h>
#endif

namespace trainflow::ml {

std::atomic<bool>& detail::wide_kernels_enabled() {
  static std::atomic<bool> enabled{true};
  return enabled;
}

namespace {

constexpr std::string_view kMagic = "TFCOLTRF";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kName = "FittedColumnTransformer";
constexpr std::string_view kTransform = "FittedColumnTransformer::transform: ";

// Which fitted transforms a serialised step holds.
constexpr std::uint8_t kHasImputer = 1;
constexpr std::uint8_t kHasScaler = 2;
constexpr std::uint8_t kHasOneHot = 4;
constexpr std::uint8_t kHasOrdinal = 8;

// `status` with its message prefixed by `prefix`.
Status prefixed(const Status& status, const std::string& prefix) {
  return {status.code(), prefix + status.message()};
}

// The indices of a step's columns in `train`, checked like the standalone fit()s do.
Result<std::vector<std::size_t>> resolve_step(const Dataset& train,
                                              std::span<const std::string> names, bool categorical,
                                              const std::string& what) {
  if (!categorical) {
    return detail::resolve_columns(train, names, detail::ColumnKind::kNumeric, what);
  }
  if (names.empty()) return train.categorical_feature_indices();
  Result<std::vector<std::size_t>> indices =
      detail::resolve_columns(train, names, detail::ColumnKind::kAny, what);
  if (!indices) return indices;
  for (std::size_t col : *indices) {
    if (train.column(col).is_numeric()) {
      return invalid_argument(what + ": column '" + train.column(col).name() + "' is " +
                              std::string(to_string(train.column(col).type())) +
                              "; a CategoricalStep takes only categorical columns (use a "
                              "NumericStep)");
    }
  }
  return indices;
}

// Fits one step's chain on `part` (the training rows of exactly the step's columns).
Status fit_chain(const std::variant<NumericStep, CategoricalStep>& step, Dataset part,
                 std::span<const std::string> names, FittedColumnStep& fitted) {
  const std::optional<SimpleImputerOptions>& impute = std::visit(
      [](const auto& s) -> const std::optional<SimpleImputerOptions>& { return s.impute; }, step);
  if (impute) {
    Result<FittedImputer> imputer = SimpleImputer(*impute).fit(part, names);
    if (!imputer) return std::move(imputer).error();
    Result<Dataset> imputed = imputer->transform(part);
    if (!imputed) return std::move(imputed).error();
    part = std::move(*imputed);
    fitted.imputer = std::move(*imputer);
  }
  if (const auto* numeric = std::get_if<NumericStep>(&step)) {
    Result<FittedScaler> scaler = internal_error("unreachable");
    if (const auto* standard = std::get_if<StandardScalerOptions>(&numeric->scale)) {
      scaler = StandardScaler(*standard).fit(part, names);
    } else if (const auto* min_max = std::get_if<MinMaxScalerOptions>(&numeric->scale)) {
      scaler = MinMaxScaler(*min_max).fit(part, names);
    } else if (const auto* robust = std::get_if<RobustScalerOptions>(&numeric->scale)) {
      scaler = RobustScaler(*robust).fit(part, names);
    } else {
      return ok_status();  // std::monostate: no scaling
    }
    if (!scaler) return std::move(scaler).error();
    fitted.scaler = std::move(*scaler);
    return ok_status();
  }
  const auto& categorical = std::get<CategoricalStep>(step);
  if (const auto* one_hot = std::get_if<OneHotEncoderOptions>(&categorical.encode)) {
    Result<FittedOneHotEncoder> encoder = OneHotEncoder(*one_hot).fit(part, names);
    if (!encoder) return std::move(encoder).error();
    fitted.one_hot = std::move(*encoder);
  } else {
    Result<FittedOrdinalEncoder> encoder =
        OrdinalEncoder(std::get<OrdinalEncoderOptions>(categorical.encode)).fit(part, names);
    if (!encoder) return std::move(encoder).error();
    fitted.ordinal = std::move(*encoder);
  }
  return ok_status();
}

// True when `fitted` lists exactly `names`, in order.
template <class Items, class Name>
bool same_columns(const Items& items, const std::vector<std::string>& names, Name name_of) {
  if (items.size() != names.size()) return false;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (name_of(items[i]) != names[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The fused pass.

// One output column under construction: a buffer written by the pass, or a column of `data`
// shared as it is.
struct Output {
  std::string name;
  ColumnType type = ColumnType::kFloat64;
  std::optional<Column> shared;
  // Uninitialised until the pass writes it (no zero-fill: the pass's writes are the first touch
  // of its pages, each on the thread that computes the block).
  ColumnBuffer<double> f64 = ColumnBuffer<double>::uninitialized(0);
  std::vector<float> f32;
  std::vector<std::int32_t> codes;
  std::vector<std::string> categories;  // of a categorical buffer
  double initial = 0;                   // the value of a float64 row that no job writes
  bool reused = false;                  // f64 is a buffer of the caller's previous output
};

// What the pass does for one input column; writes outputs [out, out + width).
struct Job {
  enum class Kind : std::uint8_t {
    kGather,          // copy the view's rows of the column, any type
    kNumeric,         // impute and/or scale into float64
    kImputeCategory,  // codes with missing replaced by fill_code
    kOrdinal,         // slot as float64
    kOneHot,          // 1 in output out + slot
  };
  Kind kind = Kind::kGather;
  std::size_t col = 0;
  std::size_t out = 0;
  std::size_t width = 1;  // outputs written
  // kNumeric
  bool impute = false;
  double fill = 0;
  const ScaleParams* scale = nullptr;
  // kImputeCategory
  std::int32_t fill_code = -1;
  // kOrdinal, kOneHot
  detail::CategorySlots slots;
  bool stop_at_unknown = false;
  const std::string* fill_category = nullptr;  // the imputed category, or null
  std::string_view fix;                        // the option that accepts unknown categories
  // Write float64 outputs with streaming stores (ColumnTransformOptions::Stores).
  bool stream = false;
};

// The first error of a block: a row, and the job that found it.
struct BlockError {
  std::size_t row = 0;
  std::size_t job = 0;
};

template <class T, class Out, class Source>
void gather(std::span<const T> in, Out& out, std::size_t begin, std::size_t end,
            const Source& source) {
  for (std::size_t r = begin; r < end; ++r) out[r] = in[source(r)];
}

using detail::fence_streaming_stores;
using detail::write_rows;

// The wide kernels of the streaming pass (AVX2, chosen at run time): the same operations on four
// rows at a time, hence the same bits as the scalar and SSE2 code. REQUIRES: out 32-byte
// aligned, count a multiple of 4.
#if TRAINFLOW_ML_AVX2_KERNELS
template <bool kImpute, bool kScale>
__attribute__((target("avx2"))) void numeric_avx2(const double* in, double* out, std::size_t count,
                                                  double fill, double center, double scale,
                                                  double offset) {
  const __m256d fills = _mm256_set1_pd(fill);
  const __m256d centers = _mm256_set1_pd(center);
  const __m256d scales = _mm256_set1_pd(scale);
  const __m256d offsets = _mm256_set1_pd(offset);
  for (std::size_t i = 0; i < count; i += 4) {
    __m256d v = _mm256_loadu_pd(in + i);
    if constexpr (kImpute) v = _mm256_blendv_pd(v, fills, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    if constexpr (kScale) {
      v = _mm256_add_pd(_mm256_div_pd(_mm256_sub_pd(v, centers), scales), offsets);
    }
    _mm256_stream_pd(out + i, v);
  }
}

// out[i] = slot[i] == hot ? 1 : 0.
__attribute__((target("avx2"))) void one_hot_avx2(const std::int32_t* slot, double* out,
                                                  std::size_t count, std::int32_t hot) {
  const __m128i hots = _mm_set1_epi32(hot);
  const __m256d ones = _mm256_set1_pd(1.0);
  for (std::size_t i = 0; i < count; i += 4) {
    const __m128i four = _mm_loadu_si128(reinterpret_cast<const __m128i*>(slot + i));
    const __m256i equal = _mm256_cvtepi32_epi64(_mm_cmpeq_epi32(four, hots));
    _mm256_stream_pd(out + i, _mm256_and_pd(_mm256_castsi256_pd(equal), ones));
  }
}
#endif

// The last-level cache's size as the C library reports it, or 32 MiB when it reports none.
std::size_t last_level_cache_bytes() {
  static const std::size_t bytes = [] {
    for (int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
      const long size = ::sysconf(name);
      if (size > 0) return static_cast<std::size_t>(size);
    }
    return std::size_t{32} << 20;
  }();
  return bytes;
}

// The Source of a dataset that is not a view: row r is row r of its columns.
struct SameRow {
  std::size_t operator()(std::size_t r) const noexcept { return r; }
};

// out[r] = the imputed (when kImpute) and scaled (when kScale) value of row r. One loop per
// combination, so that the loop body has no branch and vectorises; streamed rows of float64
// columns are computed four (AVX2) or two (SSE2) at a time with the same operations, hence the
// same bits.
template <bool kImpute, bool kScale, bool kStream, class T, class Source>
void numeric_rows(const T* in, const Job& job, double* out, std::size_t begin, std::size_t end,
                  const Source& source) {
  const double fill = job.fill;
  const double center = kScale ? job.scale->center : 0;
  const double scale = kScale ? job.scale->scale : 1;
  const double offset = kScale ? job.scale->offset : 0;
  const auto value = [&](double v) {
    if constexpr (kImpute) v = std::isnan(v) ? fill : v;
    if constexpr (kScale) v = detail::scale_value(v, center, scale, offset);
    return v;
  };
  const auto one = [&](std::size_t r) { return value(static_cast<double>(in[source(r)])); };
#if TRAINFLOW_ML_AVX2_KERNELS
  if constexpr (kStream && std::is_same_v<T, double> && std::is_same_v<Source, SameRow>) {
    if (detail::use_wide_kernels()) {
      detail::stream_rows_wide(out, begin, end, one, [&](std::size_t r, std::size_t count) {
        numeric_avx2<kImpute, kScale>(in + r, out + r, count, fill, center, scale, offset);
      });
      return;
    }
  }
#endif
#if defined(__SSE2__)
  if constexpr (kStream && std::is_same_v<T, double> && std::is_same_v<Source, SameRow>) {
    const __m128d fills = _mm_set1_pd(fill);
    const __m128d centers = _mm_set1_pd(center);
    const __m128d scales = _mm_set1_pd(scale);
    const __m128d offsets = _mm_set1_pd(offset);
    write_rows<true>(out, begin, end, one, [&](std::size_t r) {
      __m128d v = _mm_loadu_pd(in + r);
      if constexpr (kImpute) {
        const __m128d missing = _mm_cmpunord_pd(v, v);
        v = _mm_or_pd(_mm_and_pd(missing, fills), _mm_andnot_pd(missing, v));
      }
      if constexpr (kScale) {
        v = _mm_add_pd(_mm_div_pd(_mm_sub_pd(v, centers), scales), offsets);
      }
      return v;
    });
    return;
  }
#endif
  write_rows<kStream>(out, begin, end, one);
}

template <bool kStream, class T, class Source>
void numeric(std::span<const T> in, const Job& job, double* out, std::size_t begin, std::size_t end,
             const Source& source) {
  if (job.impute && job.scale != nullptr) {
    numeric_rows<true, true, kStream>(in.data(), job, out, begin, end, source);
  } else if (job.impute) {
    numeric_rows<true, false, kStream>(in.data(), job, out, begin, end, source);
  } else {
    numeric_rows<false, true, kStream>(in.data(), job, out, begin, end, source);
  }
}

// Calls piece(b, e) on consecutive pieces of [begin, limit) of at most kPieceRows rows, small
// enough that a piece's slots and outputs stay in the L1/L2 cache; stops at the first piece that
// returns less than its end, and returns that, or limit.
constexpr std::size_t kPieceRows = 2048;
template <class Piece>
std::size_t in_pieces(std::size_t begin, std::size_t limit, const Piece& piece) {
  for (std::size_t b = begin; b < limit; b += kPieceRows) {
    const std::size_t e = std::min(limit, b + kPieceRows);
    const std::size_t stop = piece(b, e);
    if (stop < e) return stop;
  }
  return limit;
}

#if TRAINFLOW_ML_AVX2_KERNELS
// slots_of for rows [0, count) of codes, eight at a time with a gather from the slot table.
// Returns the index of the row that stopped the scan, or count. REQUIRES: by_code is not empty
// (the gather reads by_code[0] for a missing value).
__attribute__((target("avx2"))) std::size_t slots_avx2(const std::int32_t* codes,
                                                       const std::int32_t* by_code,
                                                       std::int32_t missing, std::size_t count,
                                                       bool stop_at_unknown, std::int32_t* slot) {
  const __m256i missings = _mm256_set1_epi32(missing);
  const __m256i unknowns = _mm256_set1_epi32(detail::kUnknownSlot);
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i code = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i));
    const __m256i absent = _mm256_cmpgt_epi32(_mm256_setzero_si256(), code);
    const __m256i found = _mm256_i32gather_epi32(by_code, _mm256_andnot_si256(absent, code), 4);
    const __m256i eight = _mm256_blendv_epi8(found, missings, absent);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(slot + i), eight);
    if (stop_at_unknown) {
      const auto unknown = static_cast<unsigned>(
          _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(eight, unknowns))));
      if (unknown != 0) return i + static_cast<std::size_t>(std::countr_zero(unknown));
    }
  }
  for (; i < count; ++i) {
    const std::int32_t s = codes[i] < 0 ? missing : by_code[codes[i]];
    if (s == detail::kUnknownSlot && stop_at_unknown) return i;
    slot[i] = s;
  }
  return count;
}
#endif

// The slots of rows [begin, end) into slot[0, end - begin): as detail::for_each_slot, with
// kMissingSlot (or kUnknownSlot, when not stopping at it) for a row without one. Returns the
// row that stopped the scan, or `end`.
template <class Source>
std::size_t slots_of(std::span<const std::int32_t> codes, const detail::CategorySlots& slots,
                     std::size_t begin, std::size_t end, bool stop_at_unknown, const Source& source,
                     std::int32_t* slot) {
  const std::int32_t* by_code = slots.by_code.data();
  const std::int32_t missing = slots.missing;
#if TRAINFLOW_ML_AVX2_KERNELS
  if constexpr (std::is_same_v<Source, SameRow>) {
    if (detail::use_wide_kernels() && !slots.by_code.empty()) {
      return begin +
             slots_avx2(codes.data() + begin, by_code, missing, end - begin, stop_at_unknown, slot);
    }
  }
#endif
  for (std::size_t r = begin; r < end; ++r) {
    const std::int32_t code = codes[source(r)];
    const std::int32_t s = code < 0 ? missing : by_code[code];
    if (s == detail::kUnknownSlot && stop_at_unknown) return r;
    slot[r - begin] = s;
  }
  return end;
}

// Runs `job` on rows [begin, limit); returns the first row with an unknown category, or limit.
// `slot` is scratch for kPieceRows slots.
template <bool kStream, class Source>
std::size_t run_job(const Dataset& data, const Job& job, std::vector<Output>& outputs,
                    std::size_t begin, std::size_t limit, const Source& source,
                    std::int32_t* slot) {
  const Column& column = data.column(job.col);
  Output& out = outputs[job.out];
  switch (job.kind) {
    case Job::Kind::kGather:
      switch (column.type()) {
        case ColumnType::kFloat64: {
          const std::span<const double> in = column.float64();
          write_rows<kStream>(out.f64.data(), begin, limit,
                              [&](std::size_t r) { return in[source(r)]; });
          break;
        }
        case ColumnType::kFloat32: gather(column.float32(), out.f32, begin, limit, source); break;
        case ColumnType::kCategorical:
          gather(column.codes(), out.codes, begin, limit, source);
          break;
      }
      return limit;
    case Job::Kind::kNumeric:
      if (column.type() == ColumnType::kFloat32) {
        numeric<kStream>(column.float32(), job, out.f64.data(), begin, limit, source);
      } else {
        numeric<kStream>(column.float64(), job, out.f64.data(), begin, limit, source);
      }
      return limit;
    case Job::Kind::kImputeCategory: {
      const std::span<const std::int32_t> codes = column.codes();
      for (std::size_t r = begin; r < limit; ++r) {
        const std::int32_t c = codes[source(r)];
        out.codes[r] = c < 0 ? job.fill_code : c;
      }
      return limit;
    }
    case Job::Kind::kOrdinal:
      return in_pieces(begin, limit, [&](std::size_t b, std::size_t e) {
        const std::size_t stop =
            slots_of(column.codes(), job.slots, b, e, job.stop_at_unknown, source, slot);
        const double initial = out.initial;
        write_rows<kStream>(out.f64.data(), b, stop, [&](std::size_t r) {
          const std::int32_t s = slot[r - b];
          return s >= 0 ? static_cast<double>(s) : initial;
        });
        return stop;
      });
    case Job::Kind::kOneHot:
      // Every indicator of every row is written (0 or 1), column by column: contiguous,
      // branch-free stores, whatever the outputs held before.
      return in_pieces(begin, limit, [&](std::size_t b, std::size_t e) {
        const std::size_t stop =
            slots_of(column.codes(), job.slots, b, e, job.stop_at_unknown, source, slot);
        for (std::size_t k = 0; k < job.width; ++k) {
          const auto hot = static_cast<std::int32_t>(k);
          const auto one = [&](std::size_t r) { return slot[r - b] == hot ? 1.0 : 0.0; };
          double* values = outputs[job.out + k].f64.data();
#if TRAINFLOW_ML_AVX2_KERNELS
          if (kStream && detail::use_wide_kernels()) {
            detail::stream_rows_wide(values, b, stop, one, [&](std::size_t r, std::size_t count) {
              one_hot_avx2(slot + (r - b), values + r, count, hot);
            });
            continue;
          }
#endif
#if defined(__SSE2__)
          const __m128i hots = _mm_set1_epi32(hot);
          const __m128d ones = _mm_set1_pd(1.0);
          const auto pair = [&](std::size_t r) {
            // Two slots compared at once; each 32-bit mask widened to 64 bits selects 1.0 or 0.
            std::int64_t two = 0;
            std::memcpy(&two, slot + (r - b), sizeof(two));
            const __m128i equal = _mm_cmpeq_epi32(_mm_cvtsi64_si128(two), hots);
            return _mm_and_pd(_mm_castsi128_pd(_mm_unpacklo_epi32(equal, equal)), ones);
          };
          write_rows<kStream>(values, b, stop, one, pair);
#else
          write_rows<kStream>(values, b, stop, one);
#endif
        }
        return stop;
      });
  }
  return limit;
}

// Runs every job on rows [begin, end); returns the first error in row order (the first job in
// output order within a row). Fences the streaming stores of the jobs that make them.
template <class Source>
std::optional<BlockError> run_block(const Dataset& data, const std::vector<Job>& jobs,
                                    std::vector<Output>& outputs, std::size_t begin,
                                    std::size_t end, const Source& source) {
  std::optional<BlockError> first;
  std::size_t limit = end;  // rows at or after an error found so far cannot be earlier errors
  std::array<std::int32_t, kPieceRows> slot;
  bool streamed = false;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    streamed = streamed || jobs[j].stream;
    const std::size_t row =
        jobs[j].stream ? run_job<true>(data, jobs[j], outputs, begin, limit, source, slot.data())
                       : run_job<false>(data, jobs[j], outputs, begin, limit, source, slot.data());
    if (row < limit) {
      first = BlockError{row, j};
      limit = row;
    }
  }
  if (streamed) fence_streaming_stores();
  return first;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ColumnTransformer

Result<FittedColumnTransformer> ColumnTransformer::fit(const Dataset& train) const {
  FittedColumnTransformer fitted;
  for (std::size_t i = 0; i < train.num_columns(); ++i) {
    fitted.input_columns_.push_back(train.column(i).name());
  }
  fitted.target_ = train.target_name();
  fitted.remainder_ = options_.remainder;
  std::unordered_map<std::string, std::size_t> owner;  // column -> the step that names it
  for (std::size_t k = 0; k < options_.steps.size(); ++k) {
    const auto& step = options_.steps[k];
    const bool categorical = std::holds_alternative<CategoricalStep>(step);
    const std::string what = "ColumnTransformer: step " + std::to_string(k);
    const std::vector<std::string>& named = std::visit(
        [](const auto& s) -> const std::vector<std::string>& { return s.columns; }, step);
    Result<std::vector<std::size_t>> indices = resolve_step(train, named, categorical, what);
    if (!indices) return std::move(indices).error();
    FittedColumnStep fitted_step;
    fitted_step.categorical = categorical;
    for (std::size_t col : *indices) {
      const std::string& name = train.column(col).name();
      const auto [at, inserted] = owner.emplace(name, k);
      if (!inserted) {
        return invalid_argument("ColumnTransformer: column '" + name + "' is in step " +
                                std::to_string(at->second) + " and in step " + std::to_string(k) +
                                "; a column may be in one step only");
      }
      fitted_step.columns.push_back(name);
    }
    if (!fitted_step.columns.empty()) {
      Result<Dataset> part = train.select_columns(fitted_step.columns);
      if (!part) return std::move(part).error();
      Status status = fit_chain(step, std::move(*part), fitted_step.columns, fitted_step);
      if (!status.ok()) return prefixed(status, what + ": ");
    }
    fitted.steps_.push_back(std::move(fitted_step));
  }
  if (Status status = fitted.build("ColumnTransformer"); !status.ok()) return status;
  return fitted;
}

// ---------------------------------------------------------------------------------------------
// FittedColumnTransformer

Status FittedColumnTransformer::build(std::string_view what) {
  const std::string where = std::string(what) + ": ";
  std::unordered_map<std::string_view, std::size_t> input_index;
  for (std::size_t i = 0; i < input_columns_.size(); ++i) {
    if (!input_index.emplace(input_columns_[i], i).second) {
      return invalid_argument(where + "the training column '" + input_columns_[i] +
                              "' is listed twice");
    }
  }
  step_of_input_.assign(input_columns_.size(), kRemainder);
  if (!target_.empty()) {
    const auto found = input_index.find(target_);
    if (found == input_index.end()) {
      return invalid_argument(where + "the target '" + target_ + "' is not a training column");
    }
    step_of_input_[found->second] = kTarget;
  }
  for (std::size_t k = 0; k < steps_.size(); ++k) {
    const FittedColumnStep& step = steps_[k];
    const std::string bad = where + "step " + std::to_string(k) + " ";
    for (const std::string& name : step.columns) {
      const auto found = input_index.find(name);
      if (found == input_index.end()) {
        return invalid_argument(bad + "names '" + name + "', which is not a training column");
      }
      if (step_of_input_[found->second] != kRemainder) {
        return invalid_argument(bad + "names '" + name +
                                "', which is the target or in another step");
      }
      step_of_input_[found->second] = static_cast<std::int64_t>(k);
    }
    const auto column_of = [](const auto& item) -> const std::string& { return item.column; };
    bool consistent = true;
    if (step.columns.empty()) {
      consistent = !step.imputer && !step.scaler && !step.one_hot && !step.ordinal;
    } else {
      if (step.imputer) {
        consistent = same_columns(step.imputer->fills(), step.columns, column_of);
        for (const ImputeFill& fill : step.imputer->fills()) {
          consistent = consistent && fill.categorical == step.categorical;
        }
      }
      if (step.categorical) {
        consistent =
            consistent && !step.scaler && (step.one_hot.has_value() != step.ordinal.has_value());
        if (step.one_hot) {
          consistent = consistent && same_columns(step.one_hot->columns(), step.columns, column_of);
        }
        if (step.ordinal) {
          consistent = consistent && same_columns(step.ordinal->columns(), step.columns, column_of);
        }
      } else {
        consistent = consistent && !step.one_hot && !step.ordinal &&
                     (!step.scaler || same_columns(step.scaler->params(), step.columns, column_of));
      }
    }
    if (!consistent) {
      return invalid_argument(bad + "has fitted transforms that do not match its columns");
    }
  }

  // The output names, each described, to name both columns of a collision.
  output_columns_.clear();
  std::unordered_map<std::string, std::string> origin;
  const auto add = [&](std::string name, std::string description) -> Status {
    const auto [at, inserted] = origin.emplace(name, description);
    if (!inserted) {
      return invalid_argument(where + description + " has the name of " + at->second +
                              "; rename a column or category before encoding");
    }
    output_columns_.push_back(std::move(name));
    return ok_status();
  };
  for (std::size_t i = 0; i < input_columns_.size(); ++i) {
    const std::string& name = input_columns_[i];
    const std::int64_t k = step_of_input_[i];
    Status status;
    if (k == kTarget || (k == kRemainder && remainder_ == Remainder::kPassthrough)) {
      status = add(name, "the column '" + name + "'");
    } else if (k >= 0) {
      const FittedColumnStep& step = steps_[static_cast<std::size_t>(k)];
      if (!step.one_hot) {
        status = add(name, "the column '" + name + "'");
      } else {
        if (!step.one_hot->drop_original()) status = add(name, "the column '" + name + "'");
        const auto& encoded = step.one_hot->columns();
        const auto found = std::find_if(encoded.begin(), encoded.end(),
                                        [&](const EncodedColumn& e) { return e.column == name; });
        std::vector<std::string> names;
        for (const std::string& category : found->categories) names.push_back(category);
        if (!found->other.empty()) names.emplace_back("other");
        for (const std::string& category : names) {
          if (!status.ok()) break;
          std::string output = name + "=" + category;
          const std::string description =
              "the output column '" + output + "' of column '" + name + "'";
          status = add(std::move(output), description);
        }
      }
    }
    if (!status.ok()) return status;
  }
  return ok_status();
}

Result<Dataset> FittedColumnTransformer::transform(const Dataset& data,
                                                   const ColumnTransformOptions& options) const {
  Dataset out;
  if (Status status = transform_into(data, out, options); !status.ok()) return status;
  return out;
}

Status FittedColumnTransformer::transform_into(const Dataset& data, Dataset& out,
                                               const ColumnTransformOptions& options) const {
  if (options.threads == 0) {
    return invalid_argument(std::string(kTransform) +
                            "ColumnTransformOptions::threads is 0; use 1 or more threads");
  }
  if (options.block_rows == 0) {
    return invalid_argument(std::string(kTransform) +
                            "ColumnTransformOptions::block_rows is 0; use 1 or more rows");
  }
  const std::size_t n = data.num_rows();
  const bool view = data.is_view();
  std::vector<Output> outputs;
  std::vector<Job> jobs;
  std::string result_target;

  // An unchanged column of `data`: shared, or gathered by the pass.
  const auto keep = [&](std::size_t col) {
    const Column& column = data.column(col);
    Output output;
    output.name = column.name();
    output.type = column.type();
    if (view) {
      output.categories = column.categories();
      Job job;
      job.kind = Job::Kind::kGather;
      job.col = col;
      job.out = outputs.size();
      jobs.push_back(std::move(job));
    } else {
      output.shared = column;
    }
    outputs.push_back(std::move(output));
  };
  const auto float64_output = [&](std::string name, double initial) {
    Output output;
    output.name = std::move(name);
    output.initial = initial;
    outputs.push_back(std::move(output));
  };

  for (std::size_t i = 0; i < input_columns_.size(); ++i) {
    const std::string& name = input_columns_[i];
    const std::int64_t k = step_of_input_[i];
    const std::optional<std::size_t> col = data.find(name);
    if (k == kTarget) {
      if (col) {
        keep(*col);
        result_target = name;
      }
      continue;
    }
    if (k == kRemainder) {
      if (remainder_ == Remainder::kDrop) continue;
      if (!col) {
        return not_found(std::string(kTransform) + "the dataset has no column '" + name +
                         "', which the transformer passes through (Remainder::kPassthrough)");
      }
      keep(*col);
      continue;
    }
    const FittedColumnStep& step = steps_[static_cast<std::size_t>(k)];
    if (!col) {
      return not_found(std::string(kTransform) + "the dataset has no column '" + name +
                       "', which the transformer was fitted on");
    }
    const Column& column = data.column(*col);
    if (column.is_numeric() == step.categorical) {
      return invalid_argument(std::string(kTransform) + "column '" + name + "' is " +
                              std::string(to_string(column.type())) + " but was fitted as " +
                              (step.categorical ? "categorical" : "numeric"));
    }
    const auto position = static_cast<std::size_t>(
        std::find(step.columns.begin(), step.columns.end(), name) - step.columns.begin());
    const ImputeFill* fill = step.imputer ? &step.imputer->fills()[position] : nullptr;

    if (!step.categorical) {
      if (fill == nullptr && !step.scaler) {
        keep(*col);
        continue;
      }
      Job job;
      job.kind = Job::Kind::kNumeric;
      job.col = *col;
      job.out = outputs.size();
      job.impute = fill != nullptr;
      job.fill = fill != nullptr ? fill->value : 0;
      job.scale = step.scaler ? &step.scaler->params()[position] : nullptr;
      jobs.push_back(std::move(job));
      float64_output(name, 0);
      continue;
    }

    if (data.target_index() == col) {
      return invalid_argument(std::string(kTransform) + "column '" + name +
                              "' is the target of the dataset; targets are never transformed");
    }
    if (step.one_hot && !step.one_hot->drop_original()) {
      if (fill == nullptr) {
        keep(*col);
      } else {
        // The imputed column, as FittedImputer::transform makes it.
        Output output;
        output.name = name;
        output.type = ColumnType::kCategorical;
        output.categories = column.categories();
        const auto found =
            std::find(output.categories.begin(), output.categories.end(), fill->category);
        Job job;
        job.kind = Job::Kind::kImputeCategory;
        job.col = *col;
        job.out = outputs.size();
        job.fill_code = static_cast<std::int32_t>(found - output.categories.begin());
        if (found == output.categories.end()) output.categories.push_back(fill->category);
        jobs.push_back(std::move(job));
        outputs.push_back(std::move(output));
      }
    }
    const EncodedColumn& encoded =
        step.one_hot ? step.one_hot->columns()[position] : step.ordinal->columns()[position];
    Job job;
    job.col = *col;
    job.out = outputs.size();
    job.fill_category = fill != nullptr ? &fill->category : nullptr;
    job.slots = detail::category_slots(column.categories(), encoded, job.fill_category);
    if (step.one_hot) {
      job.kind = Job::Kind::kOneHot;
      job.stop_at_unknown = step.one_hot->unknown() == OneHotEncoderOptions::Unknown::kError;
      job.fix = "OneHotEncoderOptions::Unknown::kIgnore (in a workflow file: unknown: ignore)";
      for (const std::string& category : encoded.categories)
        float64_output(name + "=" + category, 0);
      if (!encoded.other.empty()) float64_output(name + "=other", 0);
      job.width = outputs.size() - job.out;
    } else {
      job.kind = Job::Kind::kOrdinal;
      job.stop_at_unknown = step.ordinal->unknown() == OrdinalEncoderOptions::Unknown::kError;
      job.fix =
          "OrdinalEncoderOptions::Unknown::kUseMissing (in a workflow file: unknown: use_missing, "
          "or ignore for column_transformer)";
      float64_output(name, std::numeric_limits<double>::quiet_NaN());
    }
    jobs.push_back(std::move(job));
  }

  // The float64 buffers of `out` that nobody else holds and that have n rows, for reuse: memory
  // already mapped, where writing runs at the copy bandwidth instead of the page-fault rate. Not
  // when `out` is `data`: its columns are the input.
  std::vector<ColumnBuffer<double>> reusable;
  if (&out != &data) {
    for (Column& column : std::move(out).release_columns()) {
      if (column.type() != ColumnType::kFloat64 || column.size() != n) continue;
      if (std::optional<ColumnBuffer<double>> buffer = std::move(column).release_buffer()) {
        reusable.push_back(std::move(*buffer));
      }
    }
  }
  for (Output& output : outputs) {
    if (output.shared || output.type != ColumnType::kFloat64 || reusable.empty()) continue;
    output.f64 = std::move(reusable.back());
    output.reused = true;
    reusable.pop_back();
  }
  reusable.clear();

  // Allocate the other buffers. float64 ones are left uninitialised (ColumnBuffer): the pass's
  // writes, block by block on the thread that computes the block, are their first touch, instead
  // of a zero-fill here followed by a second write.
  detail::parallel_blocks(options.threads, outputs.size(), 1, [&](std::size_t o, std::size_t) {
    Output& output = outputs[o];
    if (output.shared || output.reused) return;
    switch (output.type) {
      case ColumnType::kFloat64: output.f64 = ColumnBuffer<double>::uninitialized(n); break;
      case ColumnType::kFloat32: output.f32.resize(n); break;
      case ColumnType::kCategorical: output.codes.resize(n); break;
    }
  });

  // Streaming stores when asked; by default (kAuto) into reused buffers when the float64
  // outputs would not fit in the cache anyway. Not into new buffers: the kernel has just zeroed
  // each of their pages on the first touch, leaving its lines in the cache, where ordinary stores
  // find them (measured: streaming stores made `transform` about 12% slower).
  std::size_t float64_written = 0;
  for (const Output& output : outputs) {
    if (!output.shared && output.type == ColumnType::kFloat64) float64_written += n;
  }
  const bool large = float64_written > last_level_cache_bytes() / sizeof(double);
  for (Job& job : jobs) {
    bool reused = true;
    for (std::size_t k = 0; k < job.width; ++k) reused = reused && outputs[job.out + k].reused;
    job.stream = options.stores == ColumnTransformOptions::Stores::kStreaming ||
                 (options.stores == ColumnTransformOptions::Stores::kAuto && large && reused);
  }

  // The pass. Blocks after the first failing one are skipped: their outcome cannot matter.
  const std::size_t block = options.block_rows;
  const std::size_t num_blocks = n / block + (n % block != 0 ? 1 : 0);
  std::vector<std::optional<BlockError>> errors(num_blocks);
  std::atomic<std::size_t> first_failed{num_blocks};
  if (!jobs.empty()) {
    detail::parallel_blocks(options.threads, n, block, [&](std::size_t begin, std::size_t end) {
      const std::size_t b = begin / block;
      if (b > first_failed.load(std::memory_order_relaxed)) return;
      std::optional<BlockError> error;
      if (view) {
        error = run_block(data, jobs, outputs, begin, end,
                          [&data](std::size_t r) { return data.source_row(r); });
      } else {
        error = run_block(data, jobs, outputs, begin, end, SameRow{});
      }
      if (error) {
        errors[b] = error;
        std::size_t seen = first_failed.load(std::memory_order_relaxed);
        while (b < seen && !first_failed.compare_exchange_weak(seen, b)) {
        }
      }
    });
  }
  for (const std::optional<BlockError>& error : errors) {
    if (!error) continue;
    const Job& job = jobs[error->job];
    const Column& column = data.column(job.col);
    const std::int32_t code = data.code(job.col, error->row);
    const std::string& category =
        code < 0 ? *job.fill_category : column.categories()[static_cast<std::size_t>(code)];
    Status status = detail::unknown_category(kName, column.name(), error->row, category, job.fix);
    out = Dataset();  // last: `out` may be `data`
    return status;
  }

  std::vector<Column> columns;
  columns.reserve(outputs.size());
  for (Output& output : outputs) {
    if (output.shared) {
      columns.push_back(std::move(*output.shared));
      continue;
    }
    switch (output.type) {
      case ColumnType::kFloat64:
        columns.push_back(Column::float64(std::move(output.name), std::move(output.f64)));
        break;
      case ColumnType::kFloat32:
        columns.push_back(Column::float32(std::move(output.name), std::move(output.f32)));
        break;
      case ColumnType::kCategorical:
        columns.push_back(Column::categorical(std::move(output.name), std::move(output.codes),
                                              std::move(output.categories)));
        break;
    }
  }
  Result<Dataset> result = Dataset::make(std::move(columns), result_target);
  if (!result) {
    out = Dataset();
    return std::move(result).error();
  }
  out = std::move(*result);
  return ok_status();
}

std::string FittedColumnTransformer::to_bytes() const {
  detail::ByteWriter writer(kMagic, kVersion);
  writer.u8(static_cast<std::uint8_t>(remainder_));
  writer.str(target_);
  writer.u32(static_cast<std::uint32_t>(input_columns_.size()));
  for (const std::string& name : input_columns_) writer.str(name);
  writer.u32(static_cast<std::uint32_t>(steps_.size()));
  for (const FittedColumnStep& step : steps_) {
    writer.u8(step.categorical ? 1 : 0);
    writer.u32(static_cast<std::uint32_t>(step.columns.size()));
    for (const std::string& name : step.columns) writer.str(name);
    std::uint8_t parts = 0;
    if (step.imputer) parts |= kHasImputer;
    if (step.scaler) parts |= kHasScaler;
    if (step.one_hot) parts |= kHasOneHot;
    if (step.ordinal) parts |= kHasOrdinal;
    writer.u8(parts);
    if (step.imputer) writer.str(step.imputer->to_bytes());
    if (step.scaler) writer.str(step.scaler->to_bytes());
    if (step.one_hot) writer.str(step.one_hot->to_bytes());
    if (step.ordinal) writer.str(step.ordinal->to_bytes());
  }
  return std::move(writer).finish();
}

namespace {

// Reads one nested fitted transform written with its own to_bytes(); fails the reader when the
// nested bytes are rejected.
template <class Fitted>
std::optional<Fitted> read_fitted(detail::ByteReader& reader) {
  const std::string bytes = reader.str();
  if (reader.failed()) return std::nullopt;
  Result<Fitted> fitted = Fitted::from_bytes(bytes);
  if (!fitted) {
    reader.fail();
    return std::nullopt;
  }
  return std::move(*fitted);
}

// Reads a count of strings, each at least 4 bytes long, then the strings.
std::vector<std::string> read_names(detail::ByteReader& reader) {
  const std::uint32_t count = reader.u32();
  if (count > reader.remaining() / 4) reader.fail();
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < count && !reader.failed(); ++i) names.push_back(reader.str());
  return names;
}

}  // namespace

Result<FittedColumnTransformer> FittedColumnTransformer::from_bytes(std::string_view bytes) {
  Result<detail::ByteReader> opened = detail::ByteReader::open(bytes, kMagic, kVersion, kName);
  if (!opened) return std::move(opened).error();
  detail::ByteReader& reader = *opened;
  FittedColumnTransformer fitted;
  const std::uint8_t remainder = reader.u8();
  if (remainder > static_cast<std::uint8_t>(Remainder::kDrop)) reader.fail();
  fitted.remainder_ = static_cast<Remainder>(remainder);
  fitted.target_ = reader.str();
  fitted.input_columns_ = read_names(reader);
  const std::uint32_t count = reader.u32();
  // Each step takes at least 1 + 4 + 1 bytes: bound the count before allocating.
  if (count > reader.remaining() / 6) reader.fail();
  for (std::uint32_t k = 0; k < count && !reader.failed(); ++k) {
    FittedColumnStep step;
    const std::uint8_t categorical = reader.u8();
    if (categorical > 1) reader.fail();
    step.categorical = categorical == 1;
    step.columns = read_names(reader);
    const std::uint8_t parts = reader.u8();
    if (parts > (kHasImputer | kHasScaler | kHasOneHot | kHasOrdinal)) reader.fail();
    if (!reader.failed() && (parts & kHasImputer) != 0) {
      step.imputer = read_fitted<FittedImputer>(reader);
    }
    if (!reader.failed() && (parts & kHasScaler) != 0) {
      step.scaler = read_fitted<FittedScaler>(reader);
    }
    if (!reader.failed() && (parts & kHasOneHot) != 0) {
      step.one_hot = read_fitted<FittedOneHotEncoder>(reader);
    }
    if (!reader.failed() && (parts & kHasOrdinal) != 0) {
      step.ordinal = read_fitted<FittedOrdinalEncoder>(reader);
    }
    fitted.steps_.push_back(std::move(step));
  }
  if (Status status = reader.finish(kName); !status.ok()) return status;
  if (Status status = fitted.build(std::string(kName) + "::from_bytes"); !status.ok()) {
    return status;
  }
  return fitted;
}

}  // namespace trainflow::ml
