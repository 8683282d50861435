#include "trainflow/store/run_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "trainflow/exec/run_report.hpp"
#include "trainflow/store/stage_cache.hpp"
#include "trainflow/version.hpp"

namespace trainflow {
namespace {

// PRAGMA application_id of a trainflow run database ("TFRS"): tells it apart from other
// applications' SQLite files.
constexpr std::int32_t kApplicationId = 0x54465253;

constexpr std::string_view kRunning = "running";

// Version 1; kMigrations bring it to kSchemaVersion (a new database is created as version 1
// and migrated in the same transaction, so old and new databases end up with one schema).
// Timestamps of runs are Unix epoch ms; those of stages ms from the run's start.
// Digests and cache keys are 32 lowercase hex digits. metrics.value NULL means NaN (SQLite
// stores NaN as NULL). metrics has no foreign key to stages: live per-epoch metrics may arrive
// before their stage's row.
constexpr const char* kSchema = R"sql(
CREATE TABLE runs (
  id TEXT PRIMARY KEY NOT NULL,
  workflow TEXT NOT NULL,
  status TEXT NOT NULL,
  seed INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER,
  host TEXT NOT NULL,
  trainflow_version TEXT NOT NULL,
  compiler TEXT NOT NULL,
  threads INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  failed_stage TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_start ON runs (started_ms);
CREATE INDEX runs_by_workflow ON runs (workflow, status, started_ms);
CREATE TABLE stages (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  wall_ms INTEGER NOT NULL,
  cpu_ms INTEGER NOT NULL,
  queue_wait_ms INTEGER,
  cache_outcome TEXT NOT NULL,
  cache_key TEXT,
  params TEXT NOT NULL,
  error TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER NOT NULL,
  worker INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE INDEX stages_by_cache_key ON stages (cache_key);
CREATE TABLE stage_outputs (
  run_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  port TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (run_id, stage, port),
  FOREIGN KEY (run_id, stage) REFERENCES stages (run_id, name) ON DELETE CASCADE
);
CREATE INDEX stage_outputs_by_digest ON stage_outputs (digest);
CREATE TABLE params (
  run_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, stage, name),
  FOREIGN KEY (run_id, stage) REFERENCES stages (run_id, name) ON DELETE CASCADE
);
CREATE TABLE metrics (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  name TEXT NOT NULL,
  step INTEGER,
  value REAL
);
CREATE INDEX metrics_by_stage ON metrics (run_id, stage, name, step);
)sql";

// kMigrations[i] turns version i + 1 into version i + 2. Columns only ever added, nullable, so
// rows written before read back with the new fields absent.
constexpr const char* kMigrations[] = {
    // 2: accounting. stages.threads..cost (NULL: not measured), runs.cost (the stages' sum).
    R"sql(
ALTER TABLE stages ADD COLUMN threads INTEGER;
ALTER TABLE stages ADD COLUMN gpus INTEGER;
ALTER TABLE stages ADD COLUMN peak_rss_growth_bytes INTEGER;
ALTER TABLE stages ADD COLUMN bytes_read INTEGER;
ALTER TABLE stages ADD COLUMN bytes_written INTEGER;
ALTER TABLE stages ADD COLUMN gpu_ms INTEGER;
ALTER TABLE stages ADD COLUMN gpu_memory_bytes INTEGER;
ALTER TABLE stages ADD COLUMN cost REAL;
ALTER TABLE runs ADD COLUMN cost REAL;
)sql",
};
static_assert(std::size(kMigrations) + 1 == RunStore::kSchemaVersion,
              "one migration per schema version after the first");

constexpr const char* kRunColumns =
    "id, workflow, status, seed, started_ms, ended_ms, host, trainflow_version, compiler, "
    "threads, manifest, error, failed_stage, cost";

// One prepared statement; finalised on destruction. Bind errors are kept and reported by step().
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  // Parameters are numbered from 1.
  void bind(int i, std::string_view text) {
    // A null pointer would bind SQL NULL, not an empty string.
    keep(sqlite3_bind_text64(stmt_, i, text.data() ? text.data() : "", text.size(),
                             SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void bind_nullable(int i, const std::optional<std::string>& text) {
    if (text) {
      bind(i, std::string_view(*text));
    } else {
      keep(sqlite3_bind_null(stmt_, i));
    }
  }
  void bind(int i, std::int64_t value) { keep(sqlite3_bind_int64(stmt_, i, value)); }
  void bind_nullable(int i, const std::optional<std::int64_t>& value) {
    if (value) {
      bind(i, *value);
    } else {
      keep(sqlite3_bind_null(stmt_, i));
    }
  }
  // NaN as NULL: SQLite would store NULL anyway; this makes it explicit.
  void bind_real(int i, double value) {
    keep(std::isnan(value) ? sqlite3_bind_null(stmt_, i) : sqlite3_bind_double(stmt_, i, value));
  }

  void bind_nullable_real(int i, const std::optional<double>& value) {
    if (value) {
      bind_real(i, *value);
    } else {
      keep(sqlite3_bind_null(stmt_, i));
    }
  }

  // Ready to run again with new bindings.
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_); }

  // Columns are numbered from 0.
  std::string text(int i) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
                : std::string();
  }
  std::optional<std::string> optional_text(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
    return text(i);
  }
  std::int64_t int64(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::optional<std::int64_t> optional_int64(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
    return int64(i);
  }
  std::optional<double> optional_real(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(stmt_, i);
  }
  double real_or_nan(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return sqlite3_column_double(stmt_, i);
  }

 private:
  void keep(int rc) noexcept {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

bool same_metric_value(double a, double b) noexcept {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

// Adds a ValueChange for every name whose values differ in two name-sorted lists.
template <class T, class Key, class Val>
void diff_sorted(const std::vector<T>& a, const std::vector<T>& b, Key key, Val value,
                 std::vector<ValueChange>& out) {
  std::map<std::string, std::pair<std::optional<std::string>, std::optional<std::string>>> all;
  for (const T& x : a) all[key(x)].first = value(x);
  for (const T& x : b) all[key(x)].second = value(x);
  for (auto& [name, values] : all) {
    if (values.first != values.second) {
      out.push_back({name, std::move(values.first), std::move(values.second)});
    }
  }
}

std::optional<std::string> hex_of(const std::optional<Digest>& d) {
  if (!d) return std::nullopt;
  return d->hex();
}

StageDiff diff_stage(const StoredStage& a, const StoredStage& b) {
  StageDiff d{.stage = a.name};
  const auto field = [&](const char* name, std::optional<std::string> x,
                         std::optional<std::string> y) {
    if (x != y) d.fields.push_back({name, std::move(x), std::move(y)});
  };
  field("type", a.type, b.type);
  field("status", a.status, b.status);
  field("cache_key", hex_of(a.cache_key), hex_of(b.cache_key));
  field("error", a.error, b.error);
  diff_sorted(
      a.params, b.params, [](const StageParam& p) { return p.name; },
      [](const StageParam& p) { return p.value; }, d.params);
  diff_sorted(
      a.outputs, b.outputs, [](const StageOutput& o) { return o.port; },
      [](const StageOutput& o) { return o.digest.hex(); }, d.outputs);
  // The last value written for a (name, step) counts; steps sort absent first.
  using MetricKey = std::pair<std::string, std::optional<std::int64_t>>;
  std::map<MetricKey, std::pair<std::optional<double>, std::optional<double>>> metrics;
  for (const StageMetric& m : a.metrics) metrics[{m.name, m.step}].first = m.value;
  for (const StageMetric& m : b.metrics) metrics[{m.name, m.step}].second = m.value;
  for (const auto& [key, values] : metrics) {
    const bool same = values.first && values.second
                          ? same_metric_value(*values.first, *values.second)
                          : values.first.has_value() == values.second.has_value();
    if (!same) d.metrics.push_back({key.first, key.second, values.first, values.second});
  }
  return d;
}

}  // namespace

class RunStore::Connection {
 public:
  Connection(std::filesystem::path path, RunStoreOptions options)
      : path_(std::move(path)), options_(options) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db_); }

  const std::filesystem::path& path() const noexcept { return path_; }

  Status open();

  Status begin_run(const RunInfo& run);
  Status record_stage(std::string_view run_id, const StoredStage& stage);
  Status append_metrics(std::string_view run_id, std::span<const LiveMetric> metrics);
  Status update_queue_waits(std::string_view run_id, std::span<const StageQueueWait> waits);
  Status finish_run(std::string_view run_id, const RunEnd& end);
  Status reopen_run(std::string_view run_id);
  Result<std::vector<RunSummary>> runs(std::size_t limit);
  Result<RunDetails> run(std::string_view id);
  Result<std::string> resolve_id(std::string_view prefix);
  Result<std::map<std::string, double, std::less<>>> stage_durations(std::string_view workflow,
                                                                     std::size_t recent_runs);
  Result<RunDiff> diff(std::string_view a, std::string_view b);
  Status integrity_check();

  std::mutex& mutex() const noexcept { return mu_; }

 private:
  // "run store '<path>': <what>: <sqlite message>", with a code from SQLite's result code.
  Status error(int rc, std::string_view what) const;
  Status error(std::string_view what) const { return error(sqlite3_extended_errcode(db_), what); }

  Result<Statement> prepare(std::string_view sql, std::string_view what) const;
  // Runs `sql` (one or more statements, no results).
  Status exec(const char* sql, std::string_view what) const;
  // Steps `stmt` to completion, expecting no rows.
  Status done(Statement& stmt, std::string_view what) const;

  // Runs `body` in a write transaction (BEGIN IMMEDIATE): committed when it returns ok, rolled
  // back otherwise.
  template <class F>
  Status write(std::string_view what, F&& body);
  // Runs `body` (returning Result<T>) in a read transaction, so it sees one snapshot.
  template <class T, class F>
  Result<T> read(std::string_view what, F&& body);
  void rollback() const;

  Result<std::optional<std::string>> run_status(std::string_view id) const;
  Result<RunDetails> load_run(std::string_view id) const;
  Result<std::int64_t> pragma_int(const char* pragma) const;
  Result<std::int64_t> table_count() const;
  Status foreign_database() const;
  Status create_schema();
  // Applies kMigrations from `version` on, and sets user_version. REQUIRES: in a write
  // transaction.
  Status migrate_from(std::int64_t version);
  // Upgrades a database of an older schema version, in one transaction.
  Status upgrade();
  // Fails with kNotFound unless run `run_id` exists; `what` names the operation.
  Status require_run(std::string_view run_id, std::string_view what) const;

  std::filesystem::path path_;
  RunStoreOptions options_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mu_;  // serialises every use of db_
};

Status RunStore::Connection::error(int rc, std::string_view what) const {
  std::string message = "run store '" + path_.string() + "': " + std::string(what) + ": " +
                        (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      message += " (another connection held the database for longer than the busy timeout of " +
                 std::to_string(options_.busy_timeout.count()) +
                 " ms; retry, or raise RunStoreOptions::busy_timeout)";
      return {StatusCode::kUnavailable, std::move(message)};
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return already_exists(std::move(message));
      }
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return not_found(std::move(message));
      return invalid_argument(std::move(message));
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return data_loss(std::move(message));
    case SQLITE_IOERR: return data_loss(std::move(message));
    case SQLITE_FULL: return {StatusCode::kResourceExhausted, std::move(message)};
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: return failed_precondition(std::move(message));
    default: return internal_error(std::move(message));
  }
}

Result<Statement> RunStore::Connection::prepare(std::string_view sql, std::string_view what) const {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return error(rc, what);
  return Statement(stmt);
}

Status RunStore::Connection::exec(const char* sql, std::string_view what) const {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? ok_status() : error(rc, what);
}

Status RunStore::Connection::done(Statement& stmt, std::string_view what) const {
  const int rc = stmt.step();
  if (rc == SQLITE_DONE) return ok_status();
  if (rc == SQLITE_ROW) return internal_error("run store: " + std::string(what) + " returned rows");
  return error(rc, what);
}

void RunStore::Connection::rollback() const {
  if (sqlite3_get_autocommit(db_) == 0) {
    // A failed ROLLBACK leaves nothing to do: SQLite rolls back when the connection closes.
    (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

template <class F>
Status RunStore::Connection::write(std::string_view what, F&& body) {
  Status s = exec("BEGIN IMMEDIATE", what);
  if (!s.ok()) return s;
  s = body();
  if (s.ok()) s = exec("COMMIT", what);
  if (!s.ok()) rollback();
  return s;
}

template <class T, class F>
Result<T> RunStore::Connection::read(std::string_view what, F&& body) {
  if (Status s = exec("BEGIN", what); !s.ok()) return s;
  Result<T> result = body();
  if (!result.has_value()) {
    rollback();
    return result;
  }
  if (Status s = exec("COMMIT", what); !s.ok()) {
    rollback();
    return s;
  }
  return result;
}

Result<std::int64_t> RunStore::Connection::pragma_int(const char* pragma) const {
  const std::string what = std::string("reading PRAGMA ") + pragma;
  Result<Statement> stmt = prepare(std::string("PRAGMA ") + pragma, what);
  if (!stmt) return std::move(stmt).error();
  const int rc = stmt->step();
  if (rc != SQLITE_ROW) return error(rc, what);
  return stmt->int64(0);
}

Result<std::int64_t> RunStore::Connection::table_count() const {
  Result<Statement> count = prepare("SELECT count(*) FROM sqlite_schema", "reading the schema");
  if (!count) return std::move(count).error();
  if (const int rc = count->step(); rc != SQLITE_ROW) return error(rc, "reading the schema");
  return count->int64(0);
}

Status RunStore::Connection::foreign_database() const {
  return invalid_argument("run store '" + path_.string() +
                          "': the file is an SQLite database of another application (it has "
                          "tables but no trainflow schema); move it away or choose another work "
                          "directory");
}

Status RunStore::Connection::create_schema() {
  return write("creating the schema", [&]() -> Status {
    // Another process may have created it since open() looked.
    Result<std::int64_t> version = pragma_int("user_version");
    if (!version) return std::move(version).error();
    if (*version != 0) return ok_status();
    Result<std::int64_t> tables = table_count();
    if (!tables) return std::move(tables).error();
    if (*tables != 0) return foreign_database();
    if (Status s = exec(kSchema, "creating the schema"); !s.ok()) return s;
    const std::string pragmas = "PRAGMA application_id = " + std::to_string(kApplicationId);
    if (Status s = exec(pragmas.c_str(), "setting the application id"); !s.ok()) return s;
    return migrate_from(1);
  });
}

Status RunStore::Connection::migrate_from(std::int64_t version) {
  for (std::int64_t v = version; v < kSchemaVersion; ++v) {
    const std::string what =
        "upgrading the schema from version " + std::to_string(v) + " to " + std::to_string(v + 1);
    if (Status s = exec(kMigrations[v - 1], what); !s.ok()) return s;
  }
  const std::string pragma = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
  return exec(pragma.c_str(), "setting the schema version");
}

Status RunStore::Connection::upgrade() {
  return write("upgrading the schema", [&]() -> Status {
    // Another process may have upgraded it since open() looked.
    Result<std::int64_t> version = pragma_int("user_version");
    if (!version) return std::move(version).error();
    if (*version >= kSchemaVersion) return ok_status();
    return migrate_from(*version);
  });
}

Status RunStore::Connection::require_run(std::string_view run_id, std::string_view what) const {
  Result<std::optional<std::string>> status = run_status(run_id);
  if (!status) return std::move(status).error();
  if (!status->has_value()) {
    return not_found("run store '" + path_.string() + "': " + std::string(what) + ": no such run");
  }
  return ok_status();
}

Status RunStore::Connection::open() {
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec) {
    return failed_precondition("run store '" + path_.string() +
                               "': creating its directory: " + ec.message());
  }
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr); rc != SQLITE_OK) {
    return error(rc, "opening");
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_,
                       static_cast<int>(std::clamp<std::int64_t>(options_.busy_timeout.count(), 0,
                                                                 std::numeric_limits<int>::max())));

  // Read the header and schema in one snapshot before anything writes: a file that is not a
  // database, or is another application's, stays untouched.
  struct Header {
    std::int64_t application_id = 0;
    std::int64_t version = 0;
    std::int64_t tables = 0;
  };
  Result<Header> header = read<Header>("reading the header", [&]() -> Result<Header> {
    Header h;
    Result<std::int64_t> app = pragma_int("application_id");
    if (!app) return std::move(app).error();
    Result<std::int64_t> version = pragma_int("user_version");
    if (!version) return std::move(version).error();
    Result<std::int64_t> tables = table_count();
    if (!tables) return std::move(tables).error();
    h.application_id = *app;
    h.version = *version;
    h.tables = *tables;
    return h;
  });
  if (!header) {
    if (header.error().code() == StatusCode::kDataLoss) {
      return data_loss(header.error().message() +
                       "; the file is not a trainflow run database: move it away or choose "
                       "another work directory");
    }
    return std::move(header).error();
  }
  if (header->application_id != 0 && header->application_id != kApplicationId) {
    return invalid_argument("run store '" + path_.string() +
                            "': the file is an SQLite database of another application "
                            "(application_id " +
                            std::to_string(header->application_id) +
                            "); move it away or choose another work directory");
  }
  if (header->version > kSchemaVersion) {
    return failed_precondition(
        "run store '" + path_.string() + "': schema version " + std::to_string(header->version) +
        " is newer than this trainflow (" + kVersion + ") understands (version " +
        std::to_string(kSchemaVersion) + "); use a newer trainflow to read it");
  }
  // The schema and its version are written in one transaction: tables without a version are
  // someone else's.
  if (header->version == 0 && header->tables != 0) return foreign_database();

  {
    Result<Statement> wal = prepare("PRAGMA journal_mode = WAL", "setting journal_mode=WAL");
    if (!wal) return std::move(wal).error();
    // Switching needs the database to itself, and SQLite fails at once rather than calling the
    // busy handler when another connection (one creating the file alongside) is reading: retry
    // until the busy timeout.
    const auto deadline = std::chrono::steady_clock::now() + options_.busy_timeout;
    int rc;
    while ((rc = wal->step()) != SQLITE_ROW) {
      if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
        return error(rc, "setting journal_mode=WAL");
      }
      wal->reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (wal->text(0) != "wal") {
      return failed_precondition("run store '" + path_.string() +
                                 "': could not switch to WAL mode (journal_mode is " +
                                 wal->text(0) + "); the file system may not support shared memory");
    }
  }
  if (Status s = exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", "setting pragmas");
      !s.ok()) {
    return s;
  }
  if (header->version == 0) return create_schema();
  if (header->version < kSchemaVersion) {
    if (Status s = upgrade(); !s.ok()) {
      return Status(s.code(), s.message() + " (the database has schema version " +
                                  std::to_string(header->version) +
                                  "; this trainflow upgrades "
                                  "it to " +
                                  std::to_string(kSchemaVersion) + " when it can write to it)");
    }
  }
  return ok_status();
}

Status RunStore::Connection::begin_run(const RunInfo& run) {
  if (run.id.empty()) return invalid_argument("run store: begin_run needs a non-empty run id");
  return write("begin_run", [&]() -> Status {
    Result<Statement> stmt = prepare(
        "INSERT INTO runs (id, workflow, status, seed, started_ms, host, trainflow_version, "
        "compiler, threads, manifest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        "begin_run");
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, run.id);
    stmt->bind(2, run.workflow);
    stmt->bind(3, kRunning);
    stmt->bind(4, static_cast<std::int64_t>(run.seed));  // modulo 2^64; read back exactly
    stmt->bind(5, run.started_ms);
    stmt->bind(6, run.host);
    stmt->bind(7, run.trainflow_version);
    stmt->bind(8, run.compiler);
    stmt->bind(9, static_cast<std::int64_t>(run.threads));
    stmt->bind(10, run.manifest_json);
    Status s = done(*stmt, "begin_run '" + run.id + "'");
    if (s.code() == StatusCode::kAlreadyExists) {
      return already_exists("run store '" + path_.string() + "': a run '" + run.id +
                            "' exists already; run ids must be unique");
    }
    return s;
  });
}

Result<std::optional<std::string>> RunStore::Connection::run_status(std::string_view id) const {
  Result<Statement> stmt = prepare("SELECT status FROM runs WHERE id = ?1", "looking up a run");
  if (!stmt) return std::move(stmt).error();
  stmt->bind(1, id);
  const int rc = stmt->step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return error(rc, "looking up a run");
  return std::optional<std::string>(stmt->text(0));
}

Status RunStore::Connection::record_stage(std::string_view run_id, const StoredStage& stage) {
  if (stage.name.empty()) {
    return invalid_argument("run store: record_stage needs a non-empty stage name");
  }
  const std::string what = "record_stage '" + stage.name + "' of run '" + std::string(run_id) + "'";
  return write(what, [&]() -> Status {
    Result<std::optional<std::string>> status = run_status(run_id);
    if (!status) return std::move(status).error();
    if (!status->has_value()) {
      return not_found("run store '" + path_.string() + "': " + what + ": no such run");
    }
    Result<Statement> row = prepare(
        "INSERT INTO stages (run_id, name, type, status, attempts, wall_ms, cpu_ms, "
        "queue_wait_ms, cache_outcome, cache_key, params, error, started_ms, ended_ms, worker, "
        "threads, gpus, peak_rss_growth_bytes, bytes_read, bytes_written, gpu_ms, "
        "gpu_memory_bytes, cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
        what);
    if (!row) return std::move(row).error();
    row->bind(1, run_id);
    row->bind(2, stage.name);
    row->bind(3, stage.type);
    row->bind(4, stage.status);
    row->bind(5, static_cast<std::int64_t>(stage.attempts));
    row->bind(6, stage.wall_ms);
    row->bind(7, stage.cpu_ms);
    row->bind_nullable(8, stage.queue_wait_ms);
    row->bind(9, stage.cache_outcome);
    row->bind_nullable(10, hex_of(stage.cache_key));
    row->bind(11, stage.params_canonical);
    row->bind(12, stage.error);
    row->bind(13, stage.started_ms);
    row->bind(14, stage.ended_ms);
    row->bind(15, static_cast<std::int64_t>(stage.worker));
    row->bind_nullable(16, stage.threads ? std::optional<std::int64_t>(*stage.threads)
                                         : std::optional<std::int64_t>());
    row->bind(17, static_cast<std::int64_t>(stage.gpus));
    row->bind_nullable(18, stage.peak_rss_growth_bytes);
    row->bind_nullable(19, stage.bytes_read);
    row->bind_nullable(20, stage.bytes_written);
    row->bind_nullable(21, stage.gpu_ms);
    row->bind_nullable(22, stage.gpu_memory_bytes);
    row->bind_nullable_real(23, stage.cost);
    if (Status s = done(*row, what); !s.ok()) {
      if (s.code() == StatusCode::kAlreadyExists) {
        return already_exists("run store '" + path_.string() + "': " + what +
                              ": the run has a stage of that name already");
      }
      return s;
    }

    Result<Statement> param =
        prepare("INSERT INTO params (run_id, stage, name, value) VALUES (?1, ?2, ?3, ?4)", what);
    if (!param) return std::move(param).error();
    for (const StageParam& p : stage.params) {
      param->reset();
      param->bind(1, run_id);
      param->bind(2, stage.name);
      param->bind(3, p.name);
      param->bind(4, p.value);
      if (Status s = done(*param, what + ", param '" + p.name + "'"); !s.ok()) return s;
    }
    Result<Statement> output = prepare(
        "INSERT INTO stage_outputs (run_id, stage, port, digest) VALUES (?1, ?2, ?3, ?4)", what);
    if (!output) return std::move(output).error();
    for (const StageOutput& o : stage.outputs) {
      output->reset();
      output->bind(1, run_id);
      output->bind(2, stage.name);
      output->bind(3, o.port);
      output->bind(4, o.digest.hex());
      if (Status s = done(*output, what + ", output '" + o.port + "'"); !s.ok()) return s;
    }
    Result<Statement> metric = prepare(
        "INSERT INTO metrics (run_id, stage, name, step, value) VALUES (?1, ?2, ?3, ?4, ?5)", what);
    if (!metric) return std::move(metric).error();
    for (const StageMetric& m : stage.metrics) {
      metric->reset();
      metric->bind(1, run_id);
      metric->bind(2, stage.name);
      metric->bind(3, m.name);
      metric->bind_nullable(4, m.step);
      metric->bind_real(5, m.value);
      if (Status s = done(*metric, what + ", metric '" + m.name + "'"); !s.ok()) return s;
    }
    return ok_status();
  });
}

Status RunStore::Connection::append_metrics(std::string_view run_id,
                                            std::span<const LiveMetric> metrics) {
  const std::string what = "append_metrics of run '" + std::string(run_id) + "'";
  for (const LiveMetric& m : metrics) {
    if (m.stage.empty()) {
      return invalid_argument("run store: " + what + ": metric '" + m.metric.name +
                              "' names no stage; every live metric belongs to one");
    }
  }
  if (metrics.empty()) return ok_status();
  return write(what, [&]() -> Status {
    if (Status s = require_run(run_id, what); !s.ok()) return s;
    Result<Statement> metric = prepare(
        "INSERT INTO metrics (run_id, stage, name, step, value) VALUES (?1, ?2, ?3, ?4, ?5)", what);
    if (!metric) return std::move(metric).error();
    for (const LiveMetric& m : metrics) {
      metric->reset();
      metric->bind(1, run_id);
      metric->bind(2, m.stage);
      metric->bind(3, m.metric.name);
      metric->bind_nullable(4, m.metric.step);
      metric->bind_real(5, m.metric.value);
      if (Status s =
              done(*metric, what + ", metric '" + m.metric.name + "' of stage '" + m.stage + "'");
          !s.ok()) {
        return s;
      }
    }
    return ok_status();
  });
}

Status RunStore::Connection::update_queue_waits(std::string_view run_id,
                                                std::span<const StageQueueWait> waits) {
  const std::string what = "update_queue_waits of run '" + std::string(run_id) + "'";
  return write(what, [&]() -> Status {
    if (Status s = require_run(run_id, what); !s.ok()) return s;
    Result<Statement> stmt =
        prepare("UPDATE stages SET queue_wait_ms = ?3 WHERE run_id = ?1 AND name = ?2", what);
    if (!stmt) return std::move(stmt).error();
    for (const StageQueueWait& w : waits) {
      stmt->reset();
      stmt->bind(1, run_id);
      stmt->bind(2, w.stage);
      stmt->bind(3, w.queue_wait_ms);
      if (Status s = done(*stmt, what + ", stage '" + w.stage + "'"); !s.ok()) return s;
    }
    return ok_status();
  });
}

Status RunStore::Connection::finish_run(std::string_view run_id, const RunEnd& end) {
  const std::string what = "finish_run '" + std::string(run_id) + "'";
  if (end.status.empty() || end.status == kRunning) {
    return invalid_argument("run store: " + what + ": the final status must be set and not '" +
                            std::string(kRunning) + "' (got '" + end.status + "')");
  }
  return write(what, [&]() -> Status {
    Result<std::optional<std::string>> status = run_status(run_id);
    if (!status) return std::move(status).error();
    if (!status->has_value()) {
      return not_found("run store '" + path_.string() + "': " + what + ": no such run");
    }
    if (**status != kRunning) {
      return failed_precondition("run store '" + path_.string() + "': " + what +
                                 ": the run has finished already (status '" + **status + "')");
    }
    Result<Statement> stmt = prepare(
        "UPDATE runs SET status = ?2, ended_ms = ?3, error = ?4, failed_stage = ?5, "
        "cost = (SELECT sum(cost) FROM stages WHERE run_id = ?1) WHERE id = ?1",
        what);
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, run_id);
    stmt->bind(2, end.status);
    stmt->bind(3, end.ended_ms);
    stmt->bind(4, end.error);
    stmt->bind(5, end.failed_stage);
    return done(*stmt, what);
  });
}

Status RunStore::Connection::reopen_run(std::string_view run_id) {
  const std::string what = "reopen_run '" + std::string(run_id) + "'";
  return write(what, [&]() -> Status {
    Result<std::optional<std::string>> status = run_status(run_id);
    if (!status) return std::move(status).error();
    if (!status->has_value()) {
      return not_found("run store '" + path_.string() + "': " + what + ": no such run");
    }
    if (**status == "succeeded") {
      return failed_precondition("run store '" + path_.string() + "': " + what +
                                 ": the run succeeded; there is nothing to resume");
    }
    for (const char* sql :
         {"DELETE FROM metrics WHERE run_id = ?1 AND stage NOT IN (SELECT name FROM stages "
          "WHERE run_id = ?1 AND status = 'succeeded')",
          "DELETE FROM stages WHERE run_id = ?1 AND status <> 'succeeded'",
          "UPDATE runs SET status = 'running', ended_ms = NULL, error = '', failed_stage = '', "
          "cost = NULL WHERE id = ?1"}) {
      Result<Statement> stmt = prepare(sql, what);
      if (!stmt) return std::move(stmt).error();
      stmt->bind(1, run_id);
      if (Status s = done(*stmt, what); !s.ok()) return s;
    }
    return ok_status();
  });
}

namespace {

// REQUIRES: `stmt` selects kRunColumns and is on a row.
RunSummary run_summary(const Statement& stmt) {
  RunSummary r;
  r.info.id = stmt.text(0);
  r.info.workflow = stmt.text(1);
  r.status = stmt.text(2);
  r.info.seed = static_cast<std::uint64_t>(stmt.int64(3));
  r.info.started_ms = stmt.int64(4);
  r.ended_ms = stmt.optional_int64(5);
  r.info.host = stmt.text(6);
  r.info.trainflow_version = stmt.text(7);
  r.info.compiler = stmt.text(8);
  r.info.threads = static_cast<unsigned>(stmt.int64(9));
  r.info.manifest_json = stmt.text(10);
  r.error = stmt.text(11);
  r.failed_stage = stmt.text(12);
  r.cost = stmt.optional_real(13);
  return r;
}

}  // namespace

Result<std::vector<RunSummary>> RunStore::Connection::runs(std::size_t limit) {
  return read<std::vector<RunSummary>>("listing runs", [&]() -> Result<std::vector<RunSummary>> {
    Result<Statement> stmt = prepare(std::string("SELECT ") + kRunColumns +
                                         " FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT ?1",
                                     "listing runs");
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(limit));
    std::vector<RunSummary> out;
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) out.push_back(run_summary(*stmt));
    if (rc != SQLITE_DONE) return error(rc, "listing runs");
    return out;
  });
}

Result<RunDetails> RunStore::Connection::load_run(std::string_view id) const {
  const std::string what = "reading run '" + std::string(id) + "'";
  Result<Statement> head =
      prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1", what);
  if (!head) return std::move(head).error();
  head->bind(1, id);
  int rc = head->step();
  if (rc == SQLITE_DONE) {
    return not_found("run store '" + path_.string() + "': no run '" + std::string(id) + "'");
  }
  if (rc != SQLITE_ROW) return error(rc, what);
  RunDetails details{.summary = run_summary(*head), .stages = {}};

  Result<Statement> stages = prepare(
      "SELECT name, type, status, attempts, wall_ms, cpu_ms, queue_wait_ms, cache_outcome, "
      "cache_key, params, error, started_ms, ended_ms, worker, threads, gpus, "
      "peak_rss_growth_bytes, bytes_read, bytes_written, gpu_ms, gpu_memory_bytes, cost "
      "FROM stages WHERE run_id = ?1 ORDER BY rowid",
      what);
  if (!stages) return std::move(stages).error();
  stages->bind(1, id);
  std::unordered_map<std::string, std::size_t> index;
  const auto corrupt = [&](const std::string& stage, const std::string& hex) {
    return data_loss("run store '" + path_.string() + "': stage '" + stage + "' of run '" +
                     std::string(id) + "' has a malformed digest '" + hex + "'");
  };
  while ((rc = stages->step()) == SQLITE_ROW) {
    StoredStage st;
    st.name = stages->text(0);
    st.type = stages->text(1);
    st.status = stages->text(2);
    st.attempts = static_cast<std::uint32_t>(stages->int64(3));
    st.wall_ms = stages->int64(4);
    st.cpu_ms = stages->int64(5);
    st.queue_wait_ms = stages->optional_int64(6);
    st.cache_outcome = stages->text(7);
    if (std::optional<std::string> key = stages->optional_text(8)) {
      st.cache_key = Digest::parse(*key);
      if (!st.cache_key) return corrupt(st.name, *key);
    }
    st.params_canonical = stages->text(9);
    st.error = stages->text(10);
    st.started_ms = stages->int64(11);
    st.ended_ms = stages->int64(12);
    st.worker = static_cast<unsigned>(stages->int64(13));
    if (const std::optional<std::int64_t> threads = stages->optional_int64(14)) {
      st.threads = static_cast<unsigned>(*threads);
    }
    st.gpus = static_cast<unsigned>(stages->int64(15));  // NULL (version 1 rows) reads as 0
    st.peak_rss_growth_bytes = stages->optional_int64(16);
    st.bytes_read = stages->optional_int64(17);
    st.bytes_written = stages->optional_int64(18);
    st.gpu_ms = stages->optional_int64(19);
    st.gpu_memory_bytes = stages->optional_int64(20);
    st.cost = stages->optional_real(21);
    index.emplace(st.name, details.stages.size());
    details.stages.push_back(std::move(st));
  }
  if (rc != SQLITE_DONE) return error(rc, what);

  // Rows of the other tables, each given to the stage it names.
  const auto each_row = [&](const char* sql, auto&& add) -> Status {
    Result<Statement> stmt = prepare(sql, what);
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, id);
    int step_rc;
    while ((step_rc = stmt->step()) == SQLITE_ROW) {
      const auto it = index.find(stmt->text(0));
      if (it == index.end()) continue;  // metrics of a stage not recorded (yet)
      if (Status s = add(details.stages[it->second], *stmt); !s.ok()) return s;
    }
    return step_rc == SQLITE_DONE ? ok_status() : error(step_rc, what);
  };
  Status s =
      each_row("SELECT stage, name, value FROM params WHERE run_id = ?1 ORDER BY stage, name",
               [](StoredStage& st, const Statement& row) {
                 st.params.push_back({row.text(1), row.text(2)});
                 return ok_status();
               });
  if (!s.ok()) return s;
  s = each_row(
      "SELECT stage, port, digest FROM stage_outputs WHERE run_id = ?1 ORDER BY stage, port",
      [&](StoredStage& st, const Statement& row) -> Status {
        const std::string hex = row.text(2);
        const std::optional<Digest> d = Digest::parse(hex);
        if (!d) return corrupt(st.name, hex);
        st.outputs.push_back({row.text(1), *d});
        return ok_status();
      });
  if (!s.ok()) return s;
  s = each_row("SELECT stage, name, value, step FROM metrics WHERE run_id = ?1 ORDER BY rowid",
               [](StoredStage& st, const Statement& row) {
                 st.metrics.push_back({row.text(1), row.real_or_nan(2), row.optional_int64(3)});
                 return ok_status();
               });
  if (!s.ok()) return s;
  return details;
}

Result<RunDetails> RunStore::Connection::run(std::string_view id) {
  return read<RunDetails>("reading a run", [&] { return load_run(id); });
}

Result<std::string> RunStore::Connection::resolve_id(std::string_view prefix) {
  if (prefix.empty()) return invalid_argument("run store: an empty run id prefix names no run");
  const std::string what = "resolving run id '" + std::string(prefix) + "'";
  return read<std::string>(what, [&]() -> Result<std::string> {
    Result<std::optional<std::string>> exact = run_status(prefix);
    if (!exact) return std::move(exact).error();
    if (exact->has_value()) return std::string(prefix);
    // substr() and length() count characters alike, so this is a byte-exact prefix test.
    Result<Statement> stmt = prepare(
        "SELECT id, count(*) OVER () FROM runs WHERE substr(id, 1, length(?1)) = ?1 "
        "ORDER BY started_ms DESC, rowid DESC LIMIT 10",
        what);
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, prefix);
    std::vector<std::string> ids;
    std::int64_t total = 0;
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) {
      ids.push_back(stmt->text(0));
      total = stmt->int64(1);
    }
    if (rc != SQLITE_DONE) return error(rc, what);
    if (ids.empty()) {
      return not_found("run store '" + path_.string() + "': no run id starts with '" +
                       std::string(prefix) + "' (`trainflow runs` lists them)");
    }
    if (ids.size() == 1) return ids.front();
    std::string message = "run id prefix '" + std::string(prefix) + "' is ambiguous: it matches " +
                          std::to_string(total) + " runs: ";
    for (std::size_t i = 0; i < ids.size(); ++i) message += (i ? ", " : "") + ids[i];
    if (total > static_cast<std::int64_t>(ids.size())) {
      message += " and " + std::to_string(total - static_cast<std::int64_t>(ids.size())) + " more";
    }
    return invalid_argument(message + "; give more of the id");
  });
}

Result<std::map<std::string, double, std::less<>>> RunStore::Connection::stage_durations(
    std::string_view workflow, std::size_t recent_runs) {
  using Durations = std::map<std::string, double, std::less<>>;
  const std::string what = "reading stage durations of '" + std::string(workflow) + "'";
  return read<Durations>(what, [&]() -> Result<Durations> {
    Result<Statement> stmt = prepare(
        "SELECT s.name, s.wall_ms FROM stages s JOIN "
        "(SELECT id FROM runs WHERE workflow = ?1 AND status = ?2 "
        " ORDER BY started_ms DESC, rowid DESC LIMIT ?3) r ON s.run_id = r.id "
        "WHERE s.status = ?4 AND s.cache_outcome NOT IN (?5, ?6)",
        what);
    if (!stmt) return std::move(stmt).error();
    stmt->bind(1, workflow);
    stmt->bind(2, to_string(RunStatus::kSucceeded));
    stmt->bind(3, recent_runs == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(recent_runs));
    stmt->bind(4, to_string(StageStatus::kSucceeded));
    stmt->bind(5, to_string(CacheOutcome::kRestored));
    stmt->bind(6, to_string(CacheOutcome::kSkipped));
    std::map<std::string, std::vector<std::int64_t>, std::less<>> samples;
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) samples[stmt->text(0)].push_back(stmt->int64(1));
    if (rc != SQLITE_DONE) return error(rc, what);
    Durations out;
    for (auto& [name, values] : samples) {
      std::sort(values.begin(), values.end());
      const std::size_t mid = values.size() / 2;
      out[name] =
          values.size() % 2 == 1
              ? static_cast<double>(values[mid])
              : (static_cast<double>(values[mid - 1]) + static_cast<double>(values[mid])) / 2.0;
    }
    return out;
  });
}

Result<RunDiff> RunStore::Connection::diff(std::string_view a, std::string_view b) {
  return read<RunDiff>("comparing runs", [&]() -> Result<RunDiff> {
    Result<RunDetails> ra = load_run(a);
    if (!ra) return std::move(ra).error();
    Result<RunDetails> rb = load_run(b);
    if (!rb) return std::move(rb).error();
    RunDiff d{.run_a = std::string(a), .run_b = std::string(b)};
    const RunSummary& x = ra->summary;
    const RunSummary& y = rb->summary;
    const auto field = [&](const char* name, const std::string& u, const std::string& v) {
      if (u != v) d.fields.push_back({name, u, v});
    };
    field("workflow", x.info.workflow, y.info.workflow);
    field("status", x.status, y.status);
    field("seed", std::to_string(x.info.seed), std::to_string(y.info.seed));
    field("trainflow_version", x.info.trainflow_version, y.info.trainflow_version);
    field("compiler", x.info.compiler, y.info.compiler);
    field("threads", std::to_string(x.info.threads), std::to_string(y.info.threads));
    field("host", x.info.host, y.info.host);
    field("manifest", x.info.manifest_json, y.info.manifest_json);
    field("error", x.error, y.error);

    std::unordered_map<std::string_view, const StoredStage*> in_b;
    for (const StoredStage& st : rb->stages) in_b.emplace(st.name, &st);
    for (const StoredStage& st : ra->stages) {
      const auto it = in_b.find(st.name);
      if (it == in_b.end()) {
        d.stages.push_back({.stage = st.name, .in_a = true, .in_b = false});
        continue;
      }
      StageDiff sd = diff_stage(st, *it->second);
      if (!sd.fields.empty() || !sd.params.empty() || !sd.outputs.empty() || !sd.metrics.empty()) {
        d.stages.push_back(std::move(sd));
      }
      in_b.erase(it);
    }
    for (const StoredStage& st : rb->stages) {
      if (in_b.contains(st.name))
        d.stages.push_back({.stage = st.name, .in_a = false, .in_b = true});
    }
    return d;
  });
}

Status RunStore::Connection::integrity_check() {
  std::string problems;
  for (const char* pragma : {"PRAGMA integrity_check", "PRAGMA foreign_key_check"}) {
    Result<Statement> stmt = prepare(pragma, pragma);
    if (!stmt) return std::move(stmt).error();
    const bool integrity = std::string_view(pragma) == "PRAGMA integrity_check";
    int rc;
    while ((rc = stmt->step()) == SQLITE_ROW) {
      if (integrity) {
        const std::string line = stmt->text(0);
        if (line != "ok") problems += "\n  " + line;
      } else {
        problems += "\n  table " + stmt->text(0) + " row " + stmt->text(1) +
                    ": no row in its parent table " + stmt->text(2);
      }
    }
    if (rc != SQLITE_DONE) {
      return error(rc, "the integrity check failed (" + std::string(pragma) + ")");
    }
  }
  if (problems.empty()) return ok_status();
  return data_loss("run store '" + path_.string() + "': the integrity check failed:" + problems);
}

RunStore::RunStore(std::unique_ptr<Connection> connection) noexcept
    : connection_(std::move(connection)) {}
RunStore::RunStore(RunStore&&) noexcept = default;
RunStore& RunStore::operator=(RunStore&&) noexcept = default;
RunStore::~RunStore() = default;

Result<RunStore> RunStore::open(const std::filesystem::path& path, RunStoreOptions options) {
  auto connection = std::make_unique<Connection>(path, options);
  if (Status s = connection->open(); !s.ok()) return s;
  return RunStore(std::move(connection));
}

Status RunStore::begin_run(const RunInfo& run) {
  std::lock_guard lock(connection_->mutex());
  return connection_->begin_run(run);
}

Status RunStore::record_stage(std::string_view run_id, const StoredStage& stage) {
  std::lock_guard lock(connection_->mutex());
  return connection_->record_stage(run_id, stage);
}

Status RunStore::append_metrics(std::string_view run_id, std::span<const LiveMetric> metrics) {
  std::lock_guard lock(connection_->mutex());
  return connection_->append_metrics(run_id, metrics);
}

Status RunStore::update_queue_waits(std::string_view run_id,
                                    std::span<const StageQueueWait> waits) {
  std::lock_guard lock(connection_->mutex());
  return connection_->update_queue_waits(run_id, waits);
}

Status RunStore::finish_run(std::string_view run_id, const RunEnd& end) {
  std::lock_guard lock(connection_->mutex());
  return connection_->finish_run(run_id, end);
}

Status RunStore::reopen_run(std::string_view run_id) {
  std::lock_guard lock(connection_->mutex());
  return connection_->reopen_run(run_id);
}

Result<std::vector<RunSummary>> RunStore::runs(std::size_t limit) const {
  std::lock_guard lock(connection_->mutex());
  return connection_->runs(limit);
}

Result<RunDetails> RunStore::run(std::string_view id) const {
  std::lock_guard lock(connection_->mutex());
  return connection_->run(id);
}

Result<std::string> RunStore::resolve_id(std::string_view prefix) const {
  std::lock_guard lock(connection_->mutex());
  return connection_->resolve_id(prefix);
}

Result<std::map<std::string, double, std::less<>>> RunStore::stage_durations(
    std::string_view workflow, std::size_t recent_runs) const {
  std::lock_guard lock(connection_->mutex());
  return connection_->stage_durations(workflow, recent_runs);
}

Result<RunDiff> RunStore::diff(std::string_view a, std::string_view b) const {
  std::lock_guard lock(connection_->mutex());
  return connection_->diff(a, b);
}

Status RunStore::integrity_check() const {
  std::lock_guard lock(connection_->mutex());
  return connection_->integrity_check();
}

const std::filesystem::path& RunStore::path() const noexcept {
  return connection_->path();
}

}  // namespace trainflow
