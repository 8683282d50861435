// <utility> first: pipeline.hpp pulls in Boost 1.74's asio/awaitable.hpp, which needs it.
#include <utility>

#include "trainflow/store/stage_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "testing/faulty_file_system.hpp"
#include "testing/temp_dir.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/graph/pipeline.hpp"
#include "trainflow/store/artifact_store.hpp"

namespace trainflow {
namespace {

using test::FaultyFileSystem;
using test::FsOp;
using test::TempDir;

// Codecs for the value types of these tests.
const StageRegistry& codecs() {
  static StageRegistry* const registry = [] {
    auto* r = new StageRegistry();
    r->add_codec(type_id<std::int64_t>(),
                 make_codec<std::int64_t>([](std::int64_t v) { return std::to_string(v); },
                                          [](std::string_view b) -> Result<std::int64_t> {
                                            if (b.empty() || b.size() > 20)
                                              return invalid_argument("not a number");
                                            return std::stoll(std::string(b));
                                          }));
    r->add_codec(type_id<std::string>(),
                 make_codec<std::string>(
                     [](const std::string& v) { return v; },
                     [](std::string_view b) -> Result<std::string> { return std::string(b); }));
    return r;
  }();
  return *registry;
}

// Calls per stage name, across runs.
struct Calls {
  std::atomic<int> source{0}, scale{0}, label{0}, plain{0};
};

// source -> scale(factor) -> label, plus `plain` (unversioned) reading scale. Versions make the
// stages cacheable; `factor` plays a parameter (it is part of scale's version string).
struct Built {
  Pipeline p{"cache"};
  Handle<std::int64_t> source{0, 0}, scale{0, 0};
  Handle<std::string> label{0, 0}, plain{0, 0};
};

std::unique_ptr<Built> build(Calls& calls, std::int64_t factor, std::string scale_version = "1",
                             bool same_output = false) {
  auto b = std::make_unique<Built>();
  b->source = b->p.add(StageOptions{.name = "source", .version = "1"}, [&calls](StageContext& ctx) {
    ++calls.source;
    return static_cast<std::int64_t>(ctx.seed() % 1000);
  });
  b->scale = b->p.add(
      StageOptions{.name = "scale", .version = scale_version + "/factor=" + std::to_string(factor)},
      [&calls, factor, same_output](std::int64_t v) {
        ++calls.scale;
        return same_output ? v : v * factor;
      },
      b->source);
  b->label = b->p.add(
      StageOptions{.name = "label", .version = "1"},
      [&calls](std::int64_t v) {
        ++calls.label;
        return "value " + std::to_string(v);
      },
      b->scale);
  b->plain = b->p.add(
      StageOptions{.name = "plain"},
      [&calls](std::int64_t v) {
        ++calls.plain;
        return std::to_string(v);
      },
      b->scale);
  return b;
}

class StageCacheTest : public ::testing::TestWithParam<unsigned> {
 protected:
  // Attaches a cache to `b`, runs it, and returns the records by stage name.
  std::map<std::string, StageCacheRecord> run(Built& b, CacheOptions options = {},
                                              std::uint64_t seed = 7) {
    Graph& graph = b.p.graph();
    options.workdir = dir_.path();
    options.run_seed = seed;
    options.workers = GetParam();
    options.registry = &codecs();
    Result<std::shared_ptr<StageCache>> cache = StageCache::attach(graph, options);
    EXPECT_TRUE(cache.has_value()) << cache.error().message();
    if (!cache) return {};
    report_ = executor_.run(graph, {.seed = seed});
    EXPECT_TRUE(report_.ok()) << report_.error().message();
    std::map<std::string, StageCacheRecord> out;
    for (const StageCacheRecord& r : (*cache)->records()) out[graph.stage(r.stage).name] = r;
    return out;
  }

  Executor executor_{{.threads = GetParam()}};
  TempDir dir_{"stage_cache_test"};
  RunReport report_;
};

INSTANTIATE_TEST_SUITE_P(Workers, StageCacheTest, ::testing::Values(1u, 2u, 4u, 8u));

TEST_P(StageCacheTest, UnchangedRerunExecutesNothingCacheable) {
  Calls calls;
  auto first = build(calls, 3);
  auto r1 = run(*first);
  EXPECT_EQ(r1["source"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r1["scale"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r1["label"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r1["plain"].outcome, CacheOutcome::kNotCacheable);
  const std::string label = *report_.value(first->label);

  auto second = build(calls, 3);
  auto r2 = run(*second);
  // source is needed by nobody that runs; scale feeds `plain`, which always runs; label's output
  // is kept for the report.
  EXPECT_EQ(r2["source"].outcome, CacheOutcome::kSkipped);
  EXPECT_EQ(r2["scale"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(r2["label"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(calls.source, 1);
  EXPECT_EQ(calls.scale, 1);
  EXPECT_EQ(calls.label, 1);
  EXPECT_EQ(calls.plain, 2);
  EXPECT_EQ(*report_.value(second->label), label);
  EXPECT_EQ(r2["label"].outputs, r1["label"].outputs);
}

TEST_P(StageCacheTest, ChangedParameterRerunsExactlyTheStagesDownstream) {
  Calls calls;
  auto first = build(calls, 3);
  run(*first);
  auto second = build(calls, 4);
  auto r = run(*second);
  EXPECT_EQ(r["source"].outcome, CacheOutcome::kRestored);  // scale runs and needs it
  EXPECT_EQ(r["scale"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r["label"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(calls.source, 1);
  EXPECT_EQ(calls.scale, 2);
  EXPECT_EQ(calls.label, 2);
  EXPECT_NE(*report_.value(second->label), "");
}

// A stage upstream reruns (a new version) but produces the same bytes: its dependants' keys are
// unchanged, so they are hits at run time.
TEST_P(StageCacheTest, RerunWithIdenticalOutputKeepsDependantsCached) {
  Calls calls;
  auto first = build(calls, 1, "1");
  run(*first);
  auto second = build(calls, 1, "2", /*same_output=*/true);
  auto r = run(*second);
  EXPECT_EQ(r["scale"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r["label"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(calls.scale, 2);
  EXPECT_EQ(calls.label, 1);
}

TEST_P(StageCacheTest, AnotherRunSeedMissesEverywhere) {
  Calls calls;
  auto first = build(calls, 3);
  run(*first, {}, 7);
  auto second = build(calls, 3);
  auto r = run(*second, {}, 8);
  EXPECT_EQ(r["source"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(calls.source, 2);
  EXPECT_EQ(calls.label, 2);
}

TEST_P(StageCacheTest, ForcedStageRunsAndReadDisabledRunsEverything) {
  Calls calls;
  auto first = build(calls, 3);
  run(*first);
  auto forced = build(calls, 3);
  auto r = run(*forced, {.force = {"scale"}});
  EXPECT_EQ(r["scale"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r["label"].outcome, CacheOutcome::kRestored);  // same bytes from scale
  EXPECT_EQ(calls.scale, 2);
  EXPECT_EQ(calls.label, 1);

  auto fresh = build(calls, 3);
  auto all = run(*fresh, {.read = false});
  EXPECT_EQ(all["source"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(calls.source, 2);
  EXPECT_EQ(calls.label, 2);
}

// --verify: every cacheable stage runs again and its outputs are compared with the stored ones.
TEST_P(StageCacheTest, VerifyNamesTheStageThatIsNotDeterministic) {
  std::atomic<int> draws{0};
  const auto make = [&draws](Pipeline& p) {
    auto det = p.add(StageOptions{.name = "det", .version = "1"}, [] { return std::int64_t{5}; });
    auto noisy = p.add(
        StageOptions{.name = "noisy", .version = "1"},
        [&draws](std::int64_t v) { return v + draws++; }, det);
    return p.add(
        StageOptions{.name = "after", .version = "1"},
        [](std::int64_t v) { return std::to_string(v); }, noisy);
  };
  Built first;
  make(first.p);
  run(first);
  Built second;
  make(second.p);
  auto r = run(second, {.verify = true});
  EXPECT_EQ(r["det"].outcome, CacheOutcome::kVerified);
  EXPECT_EQ(r["noisy"].outcome, CacheOutcome::kMismatch);
  EXPECT_NE(r["noisy"].note.find("output 'out' differs"), std::string::npos) << r["noisy"].note;
  EXPECT_NE(r["after"].note.find("not verified"), std::string::npos) << r["after"].note;
  EXPECT_EQ(draws, 2);
  // The stored results are kept: a plain rerun restores the first run's value.
  Built third;
  auto last = make(third.p);
  auto r3 = run(third);
  EXPECT_EQ(r3["after"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(*report_.value(last), "5");
}

// A sweep gathered into one stage: on a rerun neither the trials nor the list are built.
TEST_P(StageCacheTest, GatheredSweepIsNeitherLoadedNorBuiltOnARerun) {
  std::atomic<int> trials{0}, picks{0};
  const auto make = [&](Pipeline& p, int n) {
    std::vector<Handle<std::int64_t>> sweep;
    for (int i = 0; i < n; ++i) {
      sweep.push_back(
          p.add(StageOptions{.name = "trial" + std::to_string(i), .version = "1"}, [&trials, i] {
            ++trials;
            return std::int64_t{i * i};
          }));
    }
    return p.add(
        StageOptions{.name = "pick", .version = "1"},
        [&picks](const std::vector<std::int64_t>& v) {
          ++picks;
          return std::to_string(*std::max_element(v.begin(), v.end()));
        },
        p.gather("all", sweep));
  };
  Built first;
  make(first.p, 4);
  run(first);
  Built second;
  auto pick = make(second.p, 4);
  auto r = run(second);
  EXPECT_EQ(r["all"].outcome, CacheOutcome::kSkipped);
  EXPECT_EQ(r["trial0"].outcome, CacheOutcome::kSkipped);
  EXPECT_EQ(r["pick"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(*report_.value(pick), "9");
  EXPECT_EQ(trials, 4);
  EXPECT_EQ(picks, 1);
  // One more trial: the old ones are restored for the new list, which the pick reads.
  Built third;
  auto bigger = make(third.p, 5);
  auto r3 = run(third);
  EXPECT_EQ(r3["trial0"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(r3["trial4"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r3["pick"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(*report_.value(bigger), "16");
  EXPECT_EQ(trials, 5);
}

TEST_P(StageCacheTest, ExcludedStageAlwaysRuns) {
  Calls calls;
  auto first = build(calls, 3);
  run(*first, {.exclude = {"label"}});
  auto second = build(calls, 3);
  auto r = run(*second, {.exclude = {"label"}});
  EXPECT_EQ(r["label"].outcome, CacheOutcome::kNotCacheable);
  EXPECT_EQ(calls.label, 2);
}

TEST_P(StageCacheTest, UnknownForcedStageIsAnError) {
  Calls calls;
  auto b = build(calls, 3);
  const Result<std::shared_ptr<StageCache>> cache = StageCache::attach(
      b->p.graph(), {.workdir = dir_.path(), .force = {"scael"}, .registry = &codecs()});
  ASSERT_FALSE(cache);
  EXPECT_EQ(cache.error().code(), StatusCode::kNotFound);
  EXPECT_NE(cache.error().message().find("'scael'"), std::string::npos);
}

// Flips one bit of every stored artifact of `digest`'s object.
void flip_bit(const std::filesystem::path& object) {
  std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x01);
  f.seekp(0);
  f.write(&c, 1);
}

TEST_P(StageCacheTest, CorruptArtifactIsRecomputedWithItsInputsRestored) {
  Calls calls;
  auto first = build(calls, 3);
  auto r1 = run(*first);
  const std::string label = *report_.value(first->label);
  Result<ArtifactStore> store = ArtifactStore::open(dir_.path() / "artifacts");
  ASSERT_TRUE(store.has_value());
  flip_bit(store->path_of(*r1["label"].outputs[0]));

  auto second = build(calls, 3);
  auto r2 = run(*second);
  EXPECT_EQ(r2["label"].outcome, CacheOutcome::kStored);
  EXPECT_NE(r2["label"].note.find("corrupt"), std::string::npos) << r2["label"].note;
  EXPECT_EQ(r2["scale"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(r2["source"].outcome, CacheOutcome::kSkipped);
  EXPECT_EQ(calls.label, 2);
  EXPECT_EQ(calls.scale, 1);
  EXPECT_EQ(*report_.value(second->label), label);  // never the corrupt bytes
}

TEST_P(StageCacheTest, MissingArtifactUpstreamIsRecomputed) {
  Calls calls;
  auto first = build(calls, 3);
  auto r1 = run(*first);
  Result<ArtifactStore> store = ArtifactStore::open(dir_.path() / "artifacts");
  ASSERT_TRUE(store.has_value());
  std::filesystem::remove(store->path_of(*r1["scale"].outputs[0]));

  auto second = build(calls, 3);
  auto r2 = run(*second);
  EXPECT_EQ(r2["scale"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(r2["source"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(r2["label"].outcome, CacheOutcome::kRestored);
  EXPECT_EQ(calls.scale, 2);
  EXPECT_EQ(calls.source, 1);
}

// A hit nobody needs is not loaded, but it counts only while its artifact exists.
TEST_P(StageCacheTest, SkippedHitWithoutItsArtifactIsRecomputed) {
  Calls calls;
  auto first = build(calls, 3);
  auto r1 = run(*first);
  Result<ArtifactStore> store = ArtifactStore::open(dir_.path() / "artifacts");
  ASSERT_TRUE(store.has_value());
  std::filesystem::remove(store->path_of(*r1["source"].outputs[0]));

  auto second = build(calls, 3);
  auto r2 = run(*second);
  EXPECT_EQ(r2["source"].outcome, CacheOutcome::kStored);
  EXPECT_NE(r2["source"].note.find("missing"), std::string::npos) << r2["source"].note;
  EXPECT_EQ(calls.source, 2);
  EXPECT_EQ(r2["scale"].outcome, CacheOutcome::kRestored);  // same bytes from source
  EXPECT_EQ(calls.scale, 1);
  EXPECT_TRUE(store->present(*r1["source"].outputs[0]));
}

TEST_P(StageCacheTest, CorruptEntryIsAMiss) {
  Calls calls;
  auto first = build(calls, 3);
  run(*first);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / "cache")) {
    if (e.is_regular_file()) flip_bit(e.path());
  }
  auto second = build(calls, 3);
  auto r = run(*second);
  EXPECT_EQ(r["source"].outcome, CacheOutcome::kStored);
  EXPECT_EQ(calls.source, 2);
  EXPECT_EQ(calls.label, 2);
}

TEST(StageCacheFaultTest, StorageFailureFailsTheStageAndLeavesNoEntry) {
  TempDir dir{"stage_cache_fault"};
  FaultyFileSystem fs;
  Calls calls;
  Executor executor{{.threads = 2}};
  {
    auto b = build(calls, 3);
    Graph& graph = b->p.graph();
    Result<std::shared_ptr<StageCache>> cache = StageCache::attach(
        graph, {.workdir = dir.path(), .workers = 2, .registry = &codecs(), .fs = &fs});
    ASSERT_TRUE(cache.has_value());
    fs.fail(FsOp::kSync, data_loss("Input/output error"));  // the first artifact's fsync
    const RunReport report = executor.run(graph);
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.failed_stage(), "source");
    EXPECT_EQ(report.error().code(), StatusCode::kDataLoss);
    EXPECT_NE(report.error().message().find("storing output 'out'"), std::string::npos)
        << report.error().message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "cache"));
  {
    auto b = build(calls, 3);
    Graph& graph = b->p.graph();
    Result<std::shared_ptr<StageCache>> cache = StageCache::attach(
        graph, {.workdir = dir.path(), .workers = 2, .registry = &codecs(), .fs = &fs});
    ASSERT_TRUE(cache.has_value());
    EXPECT_EQ((*cache)->planned_hits(), 0u);
    const RunReport report = executor.run(graph);
    ASSERT_TRUE(report.ok()) << report.error().message();
  }
}

TEST(CacheKeyTest, EveryPartChangesTheKey) {
  StageSpec spec;
  spec.cache_identity = "scale@1(factor=3)";
  spec.outputs = {{"out", type_id<std::int64_t>()}};
  const std::vector<Digest> in = {digest("a")};
  const Digest base = cache_key(spec, 1, 1, in);
  EXPECT_EQ(cache_key(spec, 1, 1, in), base);
  EXPECT_EQ(cache_key(spec, 1, 4, in), base);  // the grant does not matter by default
  EXPECT_NE(cache_key(spec, 2, 1, in), base);
  EXPECT_NE(cache_key(spec, 1, 1, {digest("b")}), base);
  EXPECT_NE(cache_key(spec, 1, 1, {}), base);
  StageSpec other = spec;
  other.cache_identity = "scale@2(factor=3)";
  EXPECT_NE(cache_key(other, 1, 1, in), base);
  other = spec;
  other.numerics_depend_on_threads = true;
  EXPECT_NE(cache_key(other, 1, 1, in), cache_key(other, 1, 2, in));
  other = spec;
  other.outputs[0].name = "renamed";
  EXPECT_NE(cache_key(other, 1, 1, in), base);
}

}  // namespace
}  // namespace trainflow
