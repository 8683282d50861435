#include "trainflow/store/run_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "testing/temp_dir.hpp"

namespace trainflow {
namespace {

using test::TempDir;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A raw SQLite connection, for what RunStore must not offer: holding a transaction open,
// editing the schema version.
class RawConnection {
 public:
  explicit RawConnection(const std::filesystem::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawConnection() { sqlite3_close(db_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // The sqlite3_exec result code.
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

RunInfo make_run(std::string id, std::int64_t started_ms, std::string workflow = "churn") {
  return {.id = std::move(id),
          .workflow = std::move(workflow),
          .seed = 42,
          .started_ms = started_ms,
          .host = "host-1",
          .trainflow_version = "0.1.0",
          .compiler = "g++ 12.2.0",
          .threads = 4,
          .manifest_json = "{}"};
}

StoredStage make_stage(std::string name, std::int64_t wall_ms = 10) {
  return {.name = std::move(name),
          .type = "standard_scaler",
          .status = "succeeded",
          .attempts = 1,
          .wall_ms = wall_ms,
          .cpu_ms = wall_ms,
          .cache_outcome = "stored",
          .cache_key = digest("key"),
          .params_canonical = "{with_mean: true}",
          .params = {{"with_mean", "true"}},
          .outputs = {{"train", digest("train bytes")}},
          .metrics = {{"rows", 100}}};
}

Result<RunStore> open_store(const TempDir& dir, RunStoreOptions options = {}) {
  return RunStore::open(dir / "runs.db", options);
}

TEST(RunStoreTest, CreatesTheDatabaseAndSchemaAndReopensIt) {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "work" / "runs.db";
  {
    Result<RunStore> store = RunStore::open(path);
    ASSERT_TRUE(store.has_value()) << store.error().message();
    EXPECT_EQ(store->path(), path);
    ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
    EXPECT_TRUE(store->integrity_check().ok());
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  Result<RunStore> again = RunStore::open(path);
  ASSERT_TRUE(again.has_value()) << again.error().message();
  const Result<std::vector<RunSummary>> runs = again->runs();
  ASSERT_TRUE(runs.has_value());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].info.id, "r1");
  EXPECT_EQ((*runs)[0].status, "running");

  RawConnection raw(path);
  EXPECT_EQ(raw.exec("SELECT * FROM runs, stages, stage_outputs, params, metrics LIMIT 0"),
            SQLITE_OK);
  EXPECT_NE(raw.exec("SELECT * FROM no_such_table"), SQLITE_OK);
}

TEST(RunStoreTest, RefusesASchemaNewerThanItUnderstands) {
  TempDir dir;
  ASSERT_TRUE(open_store(dir).has_value());
  {
    RawConnection raw(dir / "runs.db");
    ASSERT_EQ(raw.exec("PRAGMA user_version = " + std::to_string(RunStore::kSchemaVersion + 1)),
              SQLITE_OK);
  }
  const Result<RunStore> store = open_store(dir);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.error().message().find(
                "schema version " + std::to_string(RunStore::kSchemaVersion + 1) + " is newer"),
            std::string::npos)
      << store.error().message();
}

TEST(RunStoreTest, RefusesAFileThatIsNotADatabaseAndLeavesItAlone) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "these are my notes, not a database\n";
  {
    std::ofstream out(dir / "runs.db", std::ios::binary);
    out << text;
  }
  const Result<RunStore> store = open_store(dir);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), StatusCode::kDataLoss);
  EXPECT_NE(store.error().message().find("not a database"), std::string::npos)
      << store.error().message();
  EXPECT_NE(store.error().message().find("runs.db"), std::string::npos);
  EXPECT_EQ(read_bytes(dir / "runs.db"), text);
  EXPECT_FALSE(std::filesystem::exists(dir / "runs.db-wal"));
}

TEST(RunStoreTest, RefusesAnotherApplicationsDatabase) {
  TempDir dir;
  {
    RawConnection raw(dir / "runs.db");
    ASSERT_EQ(raw.exec("CREATE TABLE notes (text TEXT)"), SQLITE_OK);
  }
  const std::string before = read_bytes(dir / "runs.db");
  const Result<RunStore> store = open_store(dir);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find("another application"), std::string::npos)
      << store.error().message();
  EXPECT_EQ(read_bytes(dir / "runs.db"), before);
}

TEST(RunStoreTest, RoundTripsEveryField) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  const RunInfo info{.id = "2026-05-01T10:00:00Z-'quoted\"-é",
                     .workflow = "churn \"v2\" — ünïcödé 🚀",
                     .seed = std::numeric_limits<std::uint64_t>::max(),
                     .started_ms = 1'777'000'000'123,
                     .host = "büild-host",
                     .trainflow_version = "0.1.0",
                     .compiler = "g++ 12.2.0",
                     .threads = 8,
                     .manifest_json = R"({"stages": ["a'b", "c\"d"]})"};
  ASSERT_TRUE(store->begin_run(info).ok());

  const StoredStage stage{.name = "train 'model' \"α\"",
                          .type = "logistic_regression",
                          .status = "succeeded",
                          .attempts = 3,
                          .wall_ms = 1234,
                          .cpu_ms = 4321,
                          .queue_wait_ms = 7,
                          .cache_outcome = "stored",
                          .cache_key = digest("a cache key"),
                          .params_canonical = "{c: 0.5, penalty: 'l2'}",
                          .error = "",
                          .started_ms = 15,
                          .ended_ms = 1249,
                          .worker = 5,
                          .params = {{"c", "0.5"}, {"penalty", "'l2' — ünï"}},
                          .outputs = {{"model", digest("model")}, {"scores", digest("")}},
                          .metrics = {{"accuracy", 0.875},
                                      {"loss", std::numeric_limits<double>::quiet_NaN(), 0},
                                      {"loss", 0.25, 1},
                                      {"max", std::numeric_limits<double>::infinity()},
                                      {"min", -1e-300}}};
  ASSERT_TRUE(store->record_stage(info.id, stage).ok());
  // A stage with everything optional absent.
  const StoredStage bare{.name = "bare", .type = "gate", .status = "failed", .error = "boom"};
  ASSERT_TRUE(store->record_stage(info.id, bare).ok());
  ASSERT_TRUE(store
                  ->finish_run(info.id, {.status = "failed",
                                         .ended_ms = 1'777'000'009'999,
                                         .error = "stage 'bare' failed: boom",
                                         .failed_stage = "bare"})
                  .ok());

  const Result<RunDetails> back = store->run(info.id);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  const RunSummary& s = back->summary;
  EXPECT_EQ(s.info.id, info.id);
  EXPECT_EQ(s.info.workflow, info.workflow);
  EXPECT_EQ(s.info.seed, info.seed);
  EXPECT_EQ(s.info.started_ms, info.started_ms);
  EXPECT_EQ(s.info.host, info.host);
  EXPECT_EQ(s.info.trainflow_version, info.trainflow_version);
  EXPECT_EQ(s.info.compiler, info.compiler);
  EXPECT_EQ(s.info.threads, info.threads);
  EXPECT_EQ(s.info.manifest_json, info.manifest_json);
  EXPECT_EQ(s.status, "failed");
  EXPECT_EQ(s.ended_ms, 1'777'000'009'999);
  EXPECT_EQ(s.error, "stage 'bare' failed: boom");
  EXPECT_EQ(s.failed_stage, "bare");

  ASSERT_EQ(back->stages.size(), 2u);
  StoredStage got = back->stages[0];
  ASSERT_EQ(got.metrics.size(), stage.metrics.size());
  for (std::size_t i = 0; i < stage.metrics.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got.metrics[i].name, stage.metrics[i].name);
    EXPECT_EQ(got.metrics[i].step, stage.metrics[i].step);
    if (std::isnan(stage.metrics[i].value)) {
      EXPECT_TRUE(std::isnan(got.metrics[i].value));
    } else {
      EXPECT_EQ(got.metrics[i].value, stage.metrics[i].value);
    }
  }
  StoredStage expected = stage;
  got.metrics.clear();
  expected.metrics.clear();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(back->stages[1], bare);
  EXPECT_FALSE(back->stages[1].cache_key.has_value());
  EXPECT_FALSE(back->stages[1].queue_wait_ms.has_value());
}

TEST(RunStoreTest, ReopenKeepsSucceededStagesAndForgetsTheRest) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
  ASSERT_TRUE(store->record_stage("r1", make_stage("a")).ok());
  StoredStage failed = make_stage("b");
  failed.status = "failed";
  failed.error = "boom";
  ASSERT_TRUE(store->record_stage("r1", failed).ok());
  ASSERT_TRUE(
      store
          ->finish_run("r1",
                       {.status = "failed", .ended_ms = 2000, .error = "boom", .failed_stage = "b"})
          .ok());

  ASSERT_TRUE(store->reopen_run("r1").ok());
  Result<RunDetails> run = store->run("r1");
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->summary.status, "running");
  EXPECT_FALSE(run->summary.ended_ms.has_value());
  EXPECT_EQ(run->summary.error, "");
  ASSERT_EQ(run->stages.size(), 1u);
  EXPECT_EQ(run->stages[0], make_stage("a"));
  // The failed stage can be recorded again, and the run finished again.
  ASSERT_TRUE(store->record_stage("r1", make_stage("b")).ok());
  ASSERT_TRUE(store->finish_run("r1", {.status = "succeeded", .ended_ms = 3000}).ok());
  EXPECT_EQ(store->run("r1")->stages.size(), 2u);
  EXPECT_TRUE(store->integrity_check().ok());

  const Status again = store->reopen_run("r1");
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("nothing to resume"), std::string::npos) << again.message();
  EXPECT_EQ(store->reopen_run("nope").code(), StatusCode::kNotFound);
}

TEST(RunStoreTest, RoundTripsAccountingAndSumsTheRunsCost) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
  StoredStage cpu = make_stage("cpu", 1'800'000);  // half an hour
  cpu.threads = 4;
  cpu.peak_rss_growth_bytes = 123'456'789;
  cpu.bytes_read = 1'000'000;
  cpu.bytes_written = std::int64_t{5} << 32;  // more than 32 bits
  cpu.cost = 0.5 * 4 * 0.04;                  // 0.08
  StoredStage gpu = make_stage("gpu", 3'600'000);
  gpu.threads = 2;
  gpu.gpus = 1;
  gpu.gpu_ms = 3'600'000;
  gpu.gpu_memory_bytes = std::int64_t{8} << 30;
  gpu.cost = 1.0 * (2 * 0.04 + 1 * 2.5);  // 2.58
  const StoredStage unpriced = make_stage("unpriced");
  ASSERT_TRUE(store->record_stage("r1", cpu).ok());
  ASSERT_TRUE(store->record_stage("r1", gpu).ok());
  ASSERT_TRUE(store->record_stage("r1", unpriced).ok());
  EXPECT_FALSE(store->run("r1")->summary.cost.has_value());  // set when the run finishes
  ASSERT_TRUE(store->finish_run("r1", {.status = "succeeded", .ended_ms = 2000}).ok());

  const Result<RunDetails> back = store->run("r1");
  ASSERT_TRUE(back.has_value()) << back.error().message();
  ASSERT_EQ(back->stages.size(), 3u);
  EXPECT_EQ(back->stages[0], cpu);
  EXPECT_EQ(back->stages[1], gpu);
  EXPECT_EQ(back->stages[2], unpriced);
  EXPECT_FALSE(back->stages[0].gpu_ms.has_value());
  EXPECT_FALSE(back->stages[2].threads.has_value());
  ASSERT_TRUE(back->summary.cost.has_value());
  EXPECT_NEAR(*back->summary.cost, 0.08 + 2.58, 1e-12);
  const Result<std::vector<RunSummary>> runs = store->runs();
  ASSERT_TRUE(runs.has_value());
  ASSERT_TRUE((*runs)[0].cost.has_value());
  EXPECT_NEAR(*(*runs)[0].cost, 2.66, 1e-12);

  // A run none of whose stages has a cost has none.
  ASSERT_TRUE(store->begin_run(make_run("r2", 3000)).ok());
  ASSERT_TRUE(store->record_stage("r2", unpriced).ok());
  ASSERT_TRUE(store->finish_run("r2", {.status = "succeeded", .ended_ms = 4000}).ok());
  EXPECT_FALSE(store->run("r2")->summary.cost.has_value());
}

TEST(RunStoreTest, UpgradesAVersion1DatabaseAndKeepsItsRuns) {
  TempDir dir;
  {
    // The version 1 schema, as trainflow 0.1 created it.
    RawConnection raw(dir / "runs.db");
    ASSERT_EQ(raw.exec(R"sql(
CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, workflow TEXT NOT NULL, status TEXT NOT NULL,
  seed INTEGER NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER, host TEXT NOT NULL,
  trainflow_version TEXT NOT NULL, compiler TEXT NOT NULL, threads INTEGER NOT NULL,
  manifest TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', failed_stage TEXT NOT NULL DEFAULT '');
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE INDEX runs_by_workflow ON runs (workflow, status, started_ms);
CREATE TABLE stages (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
  wall_ms INTEGER NOT NULL, cpu_ms INTEGER NOT NULL, queue_wait_ms INTEGER,
  cache_outcome TEXT NOT NULL, cache_key TEXT, params TEXT NOT NULL, error TEXT NOT NULL,
  started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL, worker INTEGER NOT NULL,
  PRIMARY KEY (run_id, name));
CREATE INDEX stages_by_cache_key ON stages (cache_key);
CREATE TABLE stage_outputs (run_id TEXT NOT NULL, stage TEXT NOT NULL, port TEXT NOT NULL,
  digest TEXT NOT NULL, PRIMARY KEY (run_id, stage, port),
  FOREIGN KEY (run_id, stage) REFERENCES stages (run_id, name) ON DELETE CASCADE);
CREATE INDEX stage_outputs_by_digest ON stage_outputs (digest);
CREATE TABLE params (run_id TEXT NOT NULL, stage TEXT NOT NULL, name TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (run_id, stage, name),
  FOREIGN KEY (run_id, stage) REFERENCES stages (run_id, name) ON DELETE CASCADE);
CREATE TABLE metrics (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  stage TEXT NOT NULL, name TEXT NOT NULL, step INTEGER, value REAL);
CREATE INDEX metrics_by_stage ON metrics (run_id, stage, name, step);
INSERT INTO runs VALUES ('old', 'churn', 'succeeded', 7, 1000, 2000, 'h', '0.1.0', 'g++', 2,
  '{}', '', '');
INSERT INTO stages VALUES ('old', 'train', 'logistic_regression', 'succeeded', 1, 250, 240, 3,
  'stored', NULL, '{}', '', 5, 255, 1);
INSERT INTO params VALUES ('old', 'train', 'l2', '0.5');
INSERT INTO metrics VALUES ('old', 'train', 'auc', NULL, 0.75);
PRAGMA application_id = 1413894739;
PRAGMA user_version = 1;
)sql"),
              SQLITE_OK);
  }
  {
    Result<RunStore> store = open_store(dir);
    ASSERT_TRUE(store.has_value()) << store.error().message();
    const Result<RunDetails> old = store->run("old");
    ASSERT_TRUE(old.has_value()) << old.error().message();
    EXPECT_EQ(old->summary.status, "succeeded");
    EXPECT_EQ(old->summary.info.seed, 7u);
    EXPECT_FALSE(old->summary.cost.has_value());
    ASSERT_EQ(old->stages.size(), 1u);
    const StoredStage& train = old->stages[0];
    EXPECT_EQ(train.wall_ms, 250);
    EXPECT_EQ(train.queue_wait_ms, 3);
    EXPECT_EQ(train.params, (std::vector<StageParam>{{"l2", "0.5"}}));
    EXPECT_EQ(train.metrics, (std::vector<StageMetric>{{"auc", 0.75}}));
    EXPECT_FALSE(train.threads.has_value());
    EXPECT_EQ(train.gpus, 0u);
    EXPECT_FALSE(train.bytes_written.has_value());
    EXPECT_FALSE(train.cost.has_value());
    // Its durations still feed the scheduler.
    const auto durations = store->stage_durations("churn");
    ASSERT_TRUE(durations.has_value());
    EXPECT_EQ(durations->at("train"), 250.0);

    // New runs record the new columns.
    ASSERT_TRUE(store->begin_run(make_run("new", 3000)).ok());
    StoredStage stage = make_stage("train", 3'600'000);
    stage.threads = 3;
    stage.cost = 0.12;
    ASSERT_TRUE(store->record_stage("new", stage).ok());
    ASSERT_TRUE(store->finish_run("new", {.status = "succeeded", .ended_ms = 4000}).ok());
    EXPECT_EQ(store->run("new")->stages.at(0), stage);
    EXPECT_EQ(store->run("new")->summary.cost, 0.12);
    EXPECT_TRUE(store->integrity_check().ok());
  }
  RawConnection raw(dir / "runs.db");
  EXPECT_EQ(raw.exec("SELECT threads, gpus, peak_rss_growth_bytes, bytes_read, bytes_written, "
                     "gpu_ms, gpu_memory_bytes, cost FROM stages; SELECT cost FROM runs"),
            SQLITE_OK);
  // Opening it again finds it current (a second upgrade would fail: the columns exist).
  EXPECT_TRUE(open_store(dir).has_value());
}

TEST(RunStoreTest, AppendsLiveMetricsInOrderAndShowsThemWithTheirStage) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
  const std::vector<LiveMetric> first = {
      {"train", {"loss", 0.9, 0}}, {"train", {"val_score", 0.5, 0}}, {"train", {"loss", 0.7, 1}}};
  ASSERT_TRUE(store->append_metrics("r1", first).ok());
  const std::vector<LiveMetric> second = {
      {"train", {"loss", std::numeric_limits<double>::quiet_NaN(), 2}},
      {"other", {"loss", 1.0, 0}}};
  ASSERT_TRUE(store->append_metrics("r1", second).ok());
  ASSERT_TRUE(store->append_metrics("r1", {}).ok());
  // Not shown before the stage is recorded.
  EXPECT_TRUE(store->run("r1")->stages.empty());
  StoredStage train = make_stage("train");
  train.metrics = {{"accuracy", 0.8}};
  ASSERT_TRUE(store->record_stage("r1", train).ok());
  const Result<RunDetails> run = store->run("r1");
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->stages.size(), 1u);
  const std::vector<StageMetric>& m = run->stages[0].metrics;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0], (StageMetric{"loss", 0.9, 0}));
  EXPECT_EQ(m[1], (StageMetric{"val_score", 0.5, 0}));
  EXPECT_EQ(m[2], (StageMetric{"loss", 0.7, 1}));
  EXPECT_EQ(m[3].name, "loss");
  EXPECT_TRUE(std::isnan(m[3].value));
  EXPECT_EQ(m[3].step, 2);
  EXPECT_EQ(m[4], (StageMetric{"accuracy", 0.8}));

  EXPECT_EQ(store->append_metrics("nope", first).code(), StatusCode::kNotFound);
  const std::vector<LiveMetric> unnamed = {{"train", {"loss", 0.1, 3}}, {"", {"loss", 1, 0}}};
  const Status bad = store->append_metrics("r1", unnamed);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("names no stage"), std::string::npos) << bad.message();
  EXPECT_EQ(store->run("r1")->stages[0].metrics.size(), 5u);  // nothing of it stored
}

TEST(RunStoreTest, ReopenForgetsLiveMetricsOfStagesToRedoAndTheCost) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
  StoredStage done = make_stage("done");
  done.cost = 1.5;
  done.metrics.clear();
  ASSERT_TRUE(store->record_stage("r1", done).ok());
  const std::vector<LiveMetric> live = {{"done", {"loss", 0.5, 0}}, {"killed", {"loss", 0.9, 0}}};
  ASSERT_TRUE(store->append_metrics("r1", live).ok());
  ASSERT_TRUE(store->finish_run("r1", {.status = "failed", .ended_ms = 2000}).ok());
  EXPECT_EQ(store->run("r1")->summary.cost, 1.5);

  ASSERT_TRUE(store->reopen_run("r1").ok());
  EXPECT_FALSE(store->run("r1")->summary.cost.has_value());
  // The stage that never got recorded runs again: only its new metrics show.
  const std::vector<LiveMetric> rerun = {{"killed", {"loss", 0.8, 0}}};
  ASSERT_TRUE(store->append_metrics("r1", rerun).ok());
  ASSERT_TRUE(store->record_stage("r1", make_stage("killed")).ok());
  const Result<RunDetails> run = store->run("r1");
  ASSERT_TRUE(run.has_value());
  ASSERT_EQ(run->stages.size(), 2u);
  EXPECT_EQ(run->stages[0].metrics, (std::vector<StageMetric>{{"loss", 0.5, 0}}));
  EXPECT_EQ(run->stages[1].metrics, (std::vector<StageMetric>{{"loss", 0.8, 0}, {"rows", 100}}));
}

TEST(RunStoreTest, UpdatesQueueWaitsOfRecordedStages) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r1", 1000)).ok());
  ASSERT_TRUE(store->record_stage("r1", make_stage("a")).ok());
  ASSERT_TRUE(store->record_stage("r1", make_stage("b")).ok());
  const std::vector<StageQueueWait> waits = {{"a", 12}, {"not recorded", 5}};
  ASSERT_TRUE(store->update_queue_waits("r1", waits).ok());
  const Result<RunDetails> run = store->run("r1");
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->stages[0].queue_wait_ms, 12);
  EXPECT_FALSE(run->stages[1].queue_wait_ms.has_value());
  EXPECT_EQ(store->update_queue_waits("nope", waits).code(), StatusCode::kNotFound);
}

TEST(RunStoreTest, ListsRunsNewestFirst) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("b", 2000)).ok());
  ASSERT_TRUE(store->begin_run(make_run("c", 3000)).ok());
  ASSERT_TRUE(store->begin_run(make_run("a", 1000)).ok());
  ASSERT_TRUE(store->begin_run(make_run("c2", 3000)).ok());  // same time: inserted later first
  const Result<std::vector<RunSummary>> all = store->runs();
  ASSERT_TRUE(all.has_value());
  std::vector<std::string> ids;
  for (const RunSummary& r : *all) ids.push_back(r.info.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c2", "c", "b", "a"}));
  const Result<std::vector<RunSummary>> two = store->runs(2);
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].info.id, "c");

  const Result<RunDetails> missing = store->run("zzz");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

TEST(RunStoreTest, BeginRunRejectsEmptyAndDuplicateIds) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  EXPECT_EQ(store->begin_run(make_run("", 1)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->begin_run(make_run("r", 1)).ok());
  const Status again = store->begin_run(make_run("r", 2));
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("'r'"), std::string::npos) << again.message();
  EXPECT_EQ(store->run("r")->summary.info.started_ms, 1);
}

TEST(RunStoreTest, ResolvesUniqueIdPrefixes) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  for (const char* id : {"2026-05-01-a1", "2026-05-01-b2", "2026-06-01-c3", "2027-01-01-d4", "abc",
                         "abcd", "50%_x"}) {
    ASSERT_TRUE(store->begin_run(make_run(id, 1)).ok());
  }
  EXPECT_EQ(*store->resolve_id("2026-06"), "2026-06-01-c3");
  EXPECT_EQ(*store->resolve_id("2027"), "2027-01-01-d4");
  EXPECT_EQ(*store->resolve_id("2026-05-01-b"), "2026-05-01-b2");
  EXPECT_EQ(*store->resolve_id("abc"), "abc");  // an exact match wins over longer ids
  EXPECT_EQ(*store->resolve_id("abcd"), "abcd");
  EXPECT_EQ(*store->resolve_id("50%"), "50%_x");

  const Result<std::string> ambiguous = store->resolve_id("2026");
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.error().code(), StatusCode::kInvalidArgument);
  const std::string& message = ambiguous.error().message();
  EXPECT_NE(message.find("ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("matches 3 runs"), std::string::npos) << message;
  for (const char* id : {"2026-05-01-a1", "2026-05-01-b2", "2026-06-01-c3"}) {
    EXPECT_NE(message.find(id), std::string::npos) << message;
  }
  EXPECT_EQ(message.find("2027"), std::string::npos) << message;

  // A LIKE pattern would match these; a prefix does not.
  for (const char* prefix : {"2025", "%", "_", "2026-05-01-c", "x"}) {
    const Result<std::string> none = store->resolve_id(prefix);
    ASSERT_FALSE(none.has_value()) << prefix;
    EXPECT_EQ(none.error().code(), StatusCode::kNotFound) << prefix;
  }
  EXPECT_EQ(store->resolve_id("").error().code(), StatusCode::kInvalidArgument);
}

TEST(RunStoreTest, AmbiguousPrefixListsTenCandidatesAndCountsTheRest) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  for (int i = 0; i < 13; ++i) {
    ASSERT_TRUE(store->begin_run(make_run("run-" + std::to_string(100 + i), i)).ok());
  }
  const Result<std::string> ambiguous = store->resolve_id("run-1");
  ASSERT_FALSE(ambiguous.has_value());
  const std::string& message = ambiguous.error().message();
  EXPECT_NE(message.find("matches 13 runs"), std::string::npos) << message;
  EXPECT_NE(message.find("and 3 more"), std::string::npos) << message;
  EXPECT_NE(message.find("run-112"), std::string::npos) << message;  // newest listed
  EXPECT_EQ(message.find("run-100"), std::string::npos) << message;  // oldest left out
}

TEST(RunStoreTest, RecordStageIsAllOrNothing) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r", 1)).ok());

  // Fails at the second param, after the stage row and the first param were written.
  StoredStage broken = make_stage("scale");
  broken.params = {{"a", "1"}, {"a", "2"}};
  const Status s = store->record_stage("r", broken);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("param 'a'"), std::string::npos) << s.message();
  EXPECT_TRUE(store->run("r")->stages.empty());

  // Fails at the second output, after params.
  broken = make_stage("scale");
  broken.outputs = {{"train", digest("x")}, {"train", digest("y")}};
  EXPECT_EQ(store->record_stage("r", broken).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(store->run("r")->stages.empty());

  // The same stage recorded twice: the second call changes nothing.
  const StoredStage good = make_stage("scale", 10);
  ASSERT_TRUE(store->record_stage("r", good).ok());
  StoredStage twice = make_stage("scale", 99);
  twice.params = {{"other", "1"}};
  twice.metrics = {{"rows", 1}, {"extra", 2}};
  const Status dup = store->record_stage("r", twice);
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(dup.message().find("stage of that name already"), std::string::npos) << dup.message();
  const Result<RunDetails> back = store->run("r");
  ASSERT_EQ(back->stages.size(), 1u);
  EXPECT_EQ(back->stages[0], good);

  const Status no_run = store->record_stage("nope", good);
  EXPECT_EQ(no_run.code(), StatusCode::kNotFound);
  EXPECT_EQ(store->record_stage("r", StoredStage{}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->integrity_check().ok());
}

TEST(RunStoreTest, FinishRunChecksTheRunAndTheStatus) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("r", 1)).ok());
  EXPECT_EQ(store->finish_run("nope", {.status = "succeeded", .ended_ms = 2}).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store->finish_run("r", {.status = "running", .ended_ms = 2}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->finish_run("r", {.status = "", .ended_ms = 2}).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->finish_run("r", {.status = "succeeded", .ended_ms = 2}).ok());
  EXPECT_EQ(store->finish_run("r", {.status = "failed", .ended_ms = 3}).code(),
            StatusCode::kFailedPrecondition);
  const Result<RunDetails> back = store->run("r");
  EXPECT_EQ(back->summary.status, "succeeded");
  EXPECT_EQ(back->summary.ended_ms, 2);
}

// Records `runs` runs of `stages` stages each, ids "<tag>-<i>".
Status record_runs(RunStore& store, const std::string& tag, int runs, int stages) {
  for (int i = 0; i < runs; ++i) {
    const std::string id = tag + "-" + std::to_string(i);
    if (Status s = store.begin_run(make_run(id, i)); !s.ok()) return s;
    for (int j = 0; j < stages; ++j) {
      if (Status s = store.record_stage(id, make_stage("s" + std::to_string(j))); !s.ok()) {
        return s;
      }
    }
    if (Status s = store.finish_run(id, {.status = "succeeded", .ended_ms = i + 1}); !s.ok()) {
      return s;
    }
  }
  return ok_status();
}

void expect_all_recorded(RunStore& store, std::size_t runs, std::size_t stages) {
  const Result<std::vector<RunSummary>> all = store.runs();
  ASSERT_TRUE(all.has_value()) << all.error().message();
  EXPECT_EQ(all->size(), runs);
  for (const RunSummary& r : *all) {
    EXPECT_EQ(r.status, "succeeded") << r.info.id;
    const Result<RunDetails> details = store.run(r.info.id);
    ASSERT_TRUE(details.has_value());
    EXPECT_EQ(details->stages.size(), stages) << r.info.id;
  }
  const Status check = store.integrity_check();
  EXPECT_TRUE(check.ok()) << check.message();
}

class RunStoreConcurrencyTest : public ::testing::TestWithParam<int> {};

// Each thread opens its own RunStore on a file that does not exist yet, so they also race to
// create the schema.
TEST_P(RunStoreConcurrencyTest, WritersWithTheirOwnConnectionsAllLand) {
  const int threads = GetParam();
  constexpr int kRuns = 6;
  constexpr int kStages = 3;
  TempDir dir;
  std::vector<Status> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Result<RunStore> store = open_store(dir, {.busy_timeout = std::chrono::seconds(60)});
      results[static_cast<std::size_t>(t)] =
          store ? record_runs(*store, "t" + std::to_string(t), kRuns, kStages) : store.error();
    });
  }
  for (std::thread& w : workers) w.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.message();
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  expect_all_recorded(*store, static_cast<std::size_t>(threads * kRuns), kStages);
}

TEST_P(RunStoreConcurrencyTest, ThreadsMayShareOneRunStore) {
  const int threads = GetParam();
  constexpr int kRuns = 4;
  constexpr int kStages = 2;
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  std::vector<Status> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      results[static_cast<std::size_t>(t)] =
          record_runs(*store, "t" + std::to_string(t), kRuns, kStages);
      // Readers interleave with the writers.
      if (Result<std::vector<RunSummary>> r = store->runs(); !r) {
        results[static_cast<std::size_t>(t)] = r.error();
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.message();
  expect_all_recorded(*store, static_cast<std::size_t>(threads * kRuns), kStages);
}

INSTANTIATE_TEST_SUITE_P(Threads, RunStoreConcurrencyTest, ::testing::Values(1, 2, 4, 8));

TEST(RunStoreTest, AnotherProcessWritesWhileThisOneWrites) {
  constexpr int kRuns = 15;
  constexpr int kStages = 2;
  TempDir dir;
  // Fork before this process opens the database: SQLite connections must not cross a fork.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe exits from here: no gtest assertions, no destructors.
    Result<RunStore> own = open_store(dir, {.busy_timeout = std::chrono::seconds(60)});
    const bool ok = own && record_runs(*own, "child", kRuns, kStages).ok();
    ::_exit(ok ? 0 : 1);
  }
  Result<RunStore> store = open_store(dir, {.busy_timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(store.has_value()) << store.error().message();
  const Status parent = record_runs(*store, "parent", kRuns, kStages);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(parent.ok()) << parent.message();
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  expect_all_recorded(*store, 2 * kRuns, kStages);
  EXPECT_EQ(*store->resolve_id("child-1"), "child-1");
  EXPECT_EQ(store->run("child-14")->stages.size(), static_cast<std::size_t>(kStages));
}

TEST(RunStoreTest, AWriterBlockedBeyondTheBusyTimeoutGetsUnavailable) {
  TempDir dir;
  Result<RunStore> store = open_store(dir, {.busy_timeout = std::chrono::milliseconds(100)});
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->begin_run(make_run("before", 1)).ok());
  RawConnection other(dir / "runs.db");
  ASSERT_EQ(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);

  const auto start = std::chrono::steady_clock::now();
  const Status blocked = store->begin_run(make_run("during", 2));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(blocked.code(), StatusCode::kUnavailable) << blocked.to_string();
  EXPECT_NE(blocked.message().find("busy timeout of 100 ms"), std::string::npos)
      << blocked.message();
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  EXPECT_LT(waited, std::chrono::seconds(10));
  EXPECT_EQ(store->record_stage("before", make_stage("s")).code(), StatusCode::kUnavailable);

  // Readers are not blocked by a writer (WAL), and a store opens while one writes.
  const Result<std::vector<RunSummary>> runs = store->runs();
  ASSERT_TRUE(runs.has_value()) << runs.error().message();
  EXPECT_EQ(runs->size(), 1u);
  EXPECT_TRUE(open_store(dir, {.busy_timeout = std::chrono::milliseconds(100)}).has_value());

  ASSERT_EQ(other.exec("COMMIT"), SQLITE_OK);
  EXPECT_TRUE(store->begin_run(make_run("during", 2)).ok());
  EXPECT_EQ(store->runs()->size(), 2u);
}

TEST(RunStoreTest, StageDurationsAreMediansOverMeasuredStagesOfSucceededRuns) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  // run(i, train wall, eval wall, status)
  const auto add = [&](const std::string& id, std::int64_t started, std::int64_t train,
                       std::optional<std::int64_t> eval, const std::string& status,
                       const std::string& workflow = "churn") {
    ASSERT_TRUE(store->begin_run(make_run(id, started, workflow)).ok());
    ASSERT_TRUE(store->record_stage(id, make_stage("train", train)).ok());
    if (eval) {
      ASSERT_TRUE(store->record_stage(id, make_stage("eval", *eval)).ok());
    }
    ASSERT_TRUE(store->finish_run(id, {.status = status, .ended_ms = started + 1}).ok());
  };
  add("r1", 1, 10, 100, "succeeded");
  add("r2", 2, 30, std::nullopt, "succeeded");
  add("r3", 3, 20, 200, "succeeded");
  add("failed", 4, 1000, 1000, "failed");  // not a succeeded run
  add("other", 5, 1000, 1000, "succeeded", "other-workflow");
  // Restored, skipped and failed stages measure nothing.
  ASSERT_TRUE(store->begin_run(make_run("r4", 6)).ok());
  StoredStage restored = make_stage("train", 1);
  restored.cache_outcome = "restored";
  ASSERT_TRUE(store->record_stage("r4", restored).ok());
  StoredStage skipped = make_stage("eval", 1);
  skipped.cache_outcome = "skipped";
  ASSERT_TRUE(store->record_stage("r4", skipped).ok());
  StoredStage failed = make_stage("gate", 1);
  failed.status = "failed";
  ASSERT_TRUE(store->record_stage("r4", failed).ok());
  ASSERT_TRUE(store->finish_run("r4", {.status = "succeeded", .ended_ms = 7}).ok());

  const Result<std::map<std::string, double, std::less<>>> all = store->stage_durations("churn");
  ASSERT_TRUE(all.has_value()) << all.error().message();
  EXPECT_EQ(*all, (std::map<std::string, double, std::less<>>{{"eval", 150.0}, {"train", 20.0}}));

  // Only the newest two succeeded runs (r4 and r3): train measured in r3 only.
  const auto recent = store->stage_durations("churn", 2);
  ASSERT_TRUE(recent.has_value());
  EXPECT_EQ(*recent,
            (std::map<std::string, double, std::less<>>{{"eval", 200.0}, {"train", 20.0}}));
  EXPECT_TRUE(store->stage_durations("unknown")->empty());
}

TEST(RunStoreTest, DiffReportsWhatDiffersPerStage) {
  TempDir dir;
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value());
  RunInfo a = make_run("a", 1);
  RunInfo b = make_run("b", 2);
  b.seed = 7;
  ASSERT_TRUE(store->begin_run(a).ok());
  ASSERT_TRUE(store->begin_run(b).ok());

  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Identical apart from times, worker and cache outcome: not reported.
  StoredStage load = make_stage("load", 5);
  load.metrics = {{"nan", nan}};
  ASSERT_TRUE(store->record_stage("a", load).ok());
  load.wall_ms = 50;
  load.worker = 3;
  load.attempts = 2;
  load.cache_outcome = "restored";
  ASSERT_TRUE(store->record_stage("b", load).ok());

  StoredStage train_a = make_stage("train");
  train_a.params = {{"c", "1.0"}, {"penalty", "l2"}};
  train_a.metrics = {{"loss", 0.5, 0}, {"loss", 0.25, 1}, {"acc", nan}};
  ASSERT_TRUE(store->record_stage("a", train_a).ok());
  StoredStage train_b = train_a;
  train_b.params = {{"c", "2.0"}, {"l1_ratio", "0.5"}};  // c changed, penalty gone, l1 new
  train_b.cache_key = digest("another key");
  train_b.outputs = {{"train", digest("other bytes")}};
  train_b.metrics = {{"loss", 0.5, 0}, {"loss", 0.3, 1}, {"acc", 0.9}};
  train_b.status = "failed";
  ASSERT_TRUE(store->record_stage("b", train_b).ok());

  ASSERT_TRUE(store->record_stage("a", make_stage("only_a")).ok());
  ASSERT_TRUE(store->record_stage("b", make_stage("only_b")).ok());
  ASSERT_TRUE(store->finish_run("a", {.status = "succeeded", .ended_ms = 3}).ok());

  const Result<RunDiff> d = store->diff("a", "b");
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_EQ(d->run_a, "a");
  EXPECT_EQ(d->run_b, "b");
  ASSERT_EQ(d->fields.size(), 2u);
  EXPECT_EQ(d->fields[0].name, "status");
  EXPECT_EQ(d->fields[0].a, "succeeded");
  EXPECT_EQ(d->fields[0].b, "running");
  EXPECT_EQ(d->fields[1].name, "seed");
  EXPECT_EQ(d->fields[1].a, "42");
  EXPECT_EQ(d->fields[1].b, "7");

  ASSERT_EQ(d->stages.size(), 3u);
  const StageDiff& train = d->stages[0];
  EXPECT_EQ(train.stage, "train");
  EXPECT_TRUE(train.in_a && train.in_b);
  ASSERT_EQ(train.fields.size(), 2u);
  EXPECT_EQ(train.fields[0].name, "status");
  EXPECT_EQ(train.fields[1].name, "cache_key");
  EXPECT_EQ(train.fields[1].a, digest("key").hex());
  EXPECT_EQ(train.fields[1].b, digest("another key").hex());
  ASSERT_EQ(train.params.size(), 3u);
  EXPECT_EQ(train.params[0].name, "c");
  EXPECT_EQ(train.params[0].a, "1.0");
  EXPECT_EQ(train.params[0].b, "2.0");
  EXPECT_EQ(train.params[1].name, "l1_ratio");
  EXPECT_EQ(train.params[1].a, std::nullopt);
  EXPECT_EQ(train.params[2].name, "penalty");
  EXPECT_EQ(train.params[2].b, std::nullopt);
  ASSERT_EQ(train.outputs.size(), 1u);
  EXPECT_EQ(train.outputs[0].name, "train");
  EXPECT_EQ(train.outputs[0].a, digest("train bytes").hex());
  EXPECT_EQ(train.outputs[0].b, digest("other bytes").hex());
  ASSERT_EQ(train.metrics.size(), 2u);  // acc NaN vs 0.9; loss step 1
  EXPECT_EQ(train.metrics[0].name, "acc");
  EXPECT_TRUE(std::isnan(*train.metrics[0].a));
  EXPECT_EQ(train.metrics[0].b, 0.9);
  EXPECT_EQ(train.metrics[1].name, "loss");
  EXPECT_EQ(train.metrics[1].step, 1);
  EXPECT_EQ(train.metrics[1].a, 0.25);
  EXPECT_EQ(train.metrics[1].b, 0.3);

  EXPECT_EQ(d->stages[1].stage, "only_a");
  EXPECT_TRUE(d->stages[1].in_a);
  EXPECT_FALSE(d->stages[1].in_b);
  EXPECT_EQ(d->stages[2].stage, "only_b");
  EXPECT_FALSE(d->stages[2].in_a);
  EXPECT_TRUE(d->stages[2].in_b);

  const Result<RunDiff> same = store->diff("a", "a");
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(same->fields.empty());
  EXPECT_TRUE(same->stages.empty());
  EXPECT_EQ(store->diff("a", "nope").error().code(), StatusCode::kNotFound);
}

TEST(RunStoreTest, IntegrityCheckReportsCorruption) {
  TempDir dir;
  const std::filesystem::path path = dir / "runs.db";
  {
    Result<RunStore> store = open_store(dir);
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE(record_runs(*store, "r", 40, 3).ok());
  }  // the last connection checkpoints the WAL into the file
  ASSERT_FALSE(std::filesystem::exists(dir / "runs.db-wal"));
  std::string bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 8u * 4096);
  // Scribble over the middle of the file, leaving the header page intact.
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 3 * 4096; ++i) {
    bytes[i] = static_cast<char>(i * 31);
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  Result<RunStore> store = open_store(dir);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  const Status check = store->integrity_check();
  EXPECT_EQ(check.code(), StatusCode::kDataLoss) << check.to_string();
  EXPECT_NE(check.message().find("integrity check failed"), std::string::npos) << check.message();
}

}  // namespace
}  // namespace trainflow
