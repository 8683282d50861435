#include "trainflow/store/stage_cache.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <string_view>
#include <thread>
#include <utility>

#include "trainflow/graph/stage_body.hpp"
#include "trainflow/store/artifact_store.hpp"
#include "trainflow/version.hpp"

namespace trainflow {

std::string_view to_string(CacheOutcome outcome) noexcept {
  switch (outcome) {
    case CacheOutcome::kNotCacheable: return "not_cacheable";
    case CacheOutcome::kSkipped: return "skipped";
    case CacheOutcome::kRestored: return "restored";
    case CacheOutcome::kStored: return "stored";
    case CacheOutcome::kRan: return "ran";
    case CacheOutcome::kVerified: return "verified";
    case CacheOutcome::kMismatch: return "mismatch";
    case CacheOutcome::kNotRun: return "not_run";
  }
  return "not_run";
}

Digest cache_key(const StageSpec& spec, std::uint64_t stage_seed, unsigned grant,
                 const std::vector<Digest>& input_digests) {
  std::string material = "trainflow cache key 1\nlibrary ";
  material += TRAINFLOW_VERSION_STRING;
  material += "\nidentity " + spec.cache_identity;
  material += "\nseed " + std::to_string(stage_seed);
  material += "\nthreads " + (spec.numerics_depend_on_threads ? std::to_string(grant) : "any");
  material += "\ndevice cpu\nprecision float64\noutputs";
  for (const PortSpec& port : spec.outputs) material += " " + port.name;
  material += "\ninputs " + std::to_string(input_digests.size());
  for (const Digest& d : input_digests) material += "\n" + d.hex();
  material += "\n";
  return digest(material);
}

namespace {

enum class Mode : std::uint8_t {
  kRun,      // the stage's own body runs (after a run-time lookup when cacheable)
  kRestore,  // a hit whose outputs are needed: decoded from bytes read and verified by attach()
  kSkip,     // a hit nobody needs: no outputs at all
};

// --- Cache entries: key -> output digests, as a small checksummed text file -------------------

constexpr std::string_view kEntryHeader = "trainflow cache entry 1\n";

std::string entry_text(const Digest& key, const std::vector<Digest>& outputs) {
  std::string text(kEntryHeader);
  text += "key " + key.hex() + "\noutputs " + std::to_string(outputs.size()) + "\n";
  for (const Digest& d : outputs) text += d.hex() + "\n";
  char check[32];
  std::snprintf(check, sizeof check, "check %016llx\n",
                static_cast<unsigned long long>(hash64(text)));
  return text + check;
}

// The output digests of a well-formed entry for `key` with `outputs` outputs; nullopt for
// anything else (absent, truncated, edited, another key).
std::optional<std::vector<Digest>> parse_entry(std::string_view text, const Digest& key,
                                               std::size_t outputs) {
  const std::size_t check_at = text.rfind("check ");
  if (check_at == std::string_view::npos || !text.starts_with(kEntryHeader)) return std::nullopt;
  const std::string_view body = text.substr(0, check_at);
  char expected[32];
  std::snprintf(expected, sizeof expected, "check %016llx\n",
                static_cast<unsigned long long>(hash64(body)));
  if (text.substr(check_at) != expected) return std::nullopt;
  std::string_view rest = body.substr(kEntryHeader.size());
  const auto line = [&rest]() -> std::string_view {
    const std::size_t end = rest.find('\n');
    if (end == std::string_view::npos) return {};
    const std::string_view l = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    return l;
  };
  if (line() != "key " + key.hex()) return std::nullopt;
  if (line() != "outputs " + std::to_string(outputs)) return std::nullopt;
  std::vector<Digest> digests;
  for (std::size_t i = 0; i < outputs; ++i) {
    const std::optional<Digest> d = Digest::parse(line());
    if (!d) return std::nullopt;
    digests.push_back(*d);
  }
  if (!rest.empty()) return std::nullopt;
  return digests;
}

Digest gather_digest(const std::vector<Digest>& inputs) {
  std::string material = "trainflow gather 1\n";
  for (const Digest& d : inputs) material += d.hex() + "\n";
  return digest(material);
}

}  // namespace

// Everything the wrapped bodies share. Each stage's slots (digests, record) are written only by
// that stage's body and read by its dependants after it completed: the executor's hand-off orders
// them.
class StageCache::State {
 public:
  struct Stage {
    std::string name;
    StageSpec spec;  // body = the original body
    std::vector<PortRef> sources;
    std::vector<std::shared_ptr<const Codec>> codecs;  // per output; null: none
    bool cacheable = false;
    bool gather = false;
    bool forced = false;
    std::uint64_t seed = 0;
    unsigned grant = 1;
    Mode mode = Mode::kRun;
    std::optional<Digest> planned_key;
    std::vector<Digest> planned_outputs;                // hits: the entry's digests
    std::optional<std::vector<Digest>> verify_against;  // verify: the entry found by the plan
    // kRestore: verified artifact bytes of the outputs someone needs (the others stay empty).
    std::vector<std::optional<std::string>> bytes;
    std::vector<bool> wanted;       // per output: needed by a stage that runs, or by the report
    bool presence_checked = false;  // kSkip: its artifacts were looked for
  };

  CacheOptions options;
  FileSystem* fs = nullptr;
  std::optional<ArtifactStore> store;
  std::vector<Stage> stages;
  std::vector<std::vector<std::optional<Digest>>> digests;  // per stage, per output
  std::vector<StageCacheRecord> records;
  std::size_t planned_hits = 0;

  std::filesystem::path entry_path(const Digest& key) const {
    const std::string hex = key.hex();
    return options.workdir / "cache" / hex.substr(0, 2) / hex.substr(2);
  }

  std::optional<std::vector<Digest>> read_entry(const Digest& key, std::size_t outputs) const {
    Result<std::string> text = fs->read(entry_path(key));
    if (!text) return std::nullopt;
    return parse_entry(*text, key, outputs);
  }

  Status write_entry(const Digest& key, const std::vector<Digest>& outputs) const {
    const std::filesystem::path path = entry_path(key);
    if (Status s = fs->create_directories(path.parent_path()); !s.ok()) return s;
    return write_file_atomically(*fs, path, entry_text(key, outputs));
  }

  // The digests of stage s's inputs now, when every one is known.
  std::optional<std::vector<Digest>> input_digests(std::size_t s) const {
    std::vector<Digest> out;
    for (const PortRef& src : stages[s].sources) {
      const std::optional<Digest>& d = digests[src.stage][src.port];
      if (!d) return std::nullopt;
      out.push_back(*d);
    }
    return out;
  }

  // Reads and verifies every output of entry `outputs`; the bytes, or why not.
  Result<std::vector<std::optional<std::string>>> load(const std::vector<Digest>& outputs) const {
    std::vector<std::optional<std::string>> bytes;
    for (const Digest& d : outputs) {
      Result<std::string> b = store->get(d);
      if (!b) return std::move(b).error();
      bytes.push_back(std::move(*b));
    }
    return bytes;
  }

  // Decodes `bytes` into the stage's outputs (an output without bytes is left unset: nobody
  // reads it); false (with a note) when a codec refuses them.
  bool restore(std::size_t s, std::vector<std::optional<std::string>>& bytes, StageCall& call) {
    const Stage& st = stages[s];
    std::vector<Value> values;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (!bytes[i]) {
        values.emplace_back();
        continue;
      }
      Result<Value> v = st.codecs[i]->decode(*bytes[i]);
      if (!v) {
        records[s].note = "stored output '" + st.spec.outputs[i].name + "' could not be decoded (" +
                          v.error().message() + "); recomputed";
        return false;
      }
      values.push_back(std::move(*v));
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i].has_value())
        call.set_output(static_cast<std::uint32_t>(i), std::move(values[i]));
    }
    return true;
  }

  // After the original body ran synchronously and succeeded: digests of the outputs, stored
  // when the stage is cacheable. A storage failure fails the stage.
  void after_run(std::size_t s, const std::optional<Digest>& key, StageCall& call) {
    Stage& st = stages[s];
    StageCacheRecord& record = records[s];
    record.outcome = st.cacheable ? CacheOutcome::kRan : CacheOutcome::kNotCacheable;
    if (call.deferred() || !call.status().ok()) return;
    const std::size_t n = st.spec.outputs.size();
    if (st.gather) {
      if (std::optional<std::vector<Digest>> in = input_digests(s)) {
        digests[s][0] = gather_digest(*in);
      }
      record.outputs = digests[s];
      return;
    }
    const bool store_it = st.cacheable && options.write && key.has_value() && !st.verify_against;
    std::vector<Digest> outputs;
    for (std::size_t i = 0; i < n; ++i) {
      const Value& v = call.output(static_cast<std::uint32_t>(i));
      if (!st.codecs[i] || !v.has_value()) return;
      const std::string bytes = st.codecs[i]->encode(v);
      if (store_it) {
        Result<Digest> d = store->put(bytes);
        if (!d) {
          call.fail(Status(d.error().code(), "storing output '" + st.spec.outputs[i].name +
                                                 "': " + d.error().message()));
          record.note = call.status().message();
          return;
        }
        outputs.push_back(*d);
      } else {
        outputs.push_back(digest(bytes));
      }
      digests[s][i] = outputs.back();
    }
    record.outputs = digests[s];
    if (st.verify_against && key != st.planned_key) {
      record.note = "not verified: its inputs differ from the stored run's (see upstream)";
    } else if (st.verify_against) {
      record.outcome = CacheOutcome::kVerified;
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (outputs[i] == (*st.verify_against)[i]) continue;
        record.outcome = CacheOutcome::kMismatch;
        record.note = "output '" + st.spec.outputs[i].name + "' differs from the stored run's (" +
                      outputs[i].hex() + " now, " + (*st.verify_against)[i].hex() +
                      " stored): the stage is not deterministic";
        break;
      }
      return;  // the stored results stay as they are
    }
    if (!store_it) return;
    if (Status written = write_entry(*key, outputs); !written.ok()) {
      call.fail(Status(written.code(), "recording the cache entry: " + written.message()));
      record.note = call.status().message();
      return;
    }
    record.outcome = CacheOutcome::kStored;
  }

  void invoke(std::size_t s, StageCall& call) {
    Stage& st = stages[s];
    StageCacheRecord& record = records[s];
    if (st.mode == Mode::kSkip || st.mode == Mode::kRestore) {
      // The plan assumed these input digests; an upstream stage that ran may have changed them.
      const std::optional<std::vector<Digest>> in = input_digests(s);
      const bool same =
          in && (st.gather ? gather_digest(*in) == st.planned_outputs[0]
                           : cache_key(st.spec, st.seed, st.grant, *in) == *st.planned_key);
      if (same) {
        for (std::size_t i = 0; i < st.planned_outputs.size(); ++i) {
          digests[s][i] = st.planned_outputs[i];
        }
        record.outputs = digests[s];
        if (st.mode == Mode::kSkip) {
          record.outcome = CacheOutcome::kSkipped;
          return;
        }
        if (restore(s, st.bytes, call)) {
          record.outcome = CacheOutcome::kRestored;
          st.bytes.clear();
          st.bytes.shrink_to_fit();
          return;
        }
      }
      if (!same) {
        record.note =
            "an input differs from the stored run's (a stage upstream is not "
            "deterministic); recomputed";
      }
      for (std::uint32_t i = 0; i < call.num_inputs(); ++i) {
        if (!call.input(i).has_value()) {
          call.fail(data_loss("stage '" + st.name + "': " + record.note +
                              " is impossible because its inputs were not loaded; run again"));
          return;
        }
      }
    }
    // Runs: first a lookup with the inputs' actual digests.
    std::optional<Digest> key;
    if (st.cacheable) {
      if (std::optional<std::vector<Digest>> in = input_digests(s)) {
        key = cache_key(st.spec, st.seed, st.grant, *in);
      }
    }
    record.key = key;
    // (With the planned key the plan has looked already, and found nothing usable.)
    if (key && options.read && !st.forced && st.mode == Mode::kRun && st.planned_key != key) {
      if (std::optional<std::vector<Digest>> entry = read_entry(*key, st.spec.outputs.size())) {
        Result<std::vector<std::optional<std::string>>> bytes = load(*entry);
        if (bytes && restore(s, *bytes, call)) {
          for (std::size_t i = 0; i < entry->size(); ++i) digests[s][i] = (*entry)[i];
          record.outputs = digests[s];
          record.outcome = CacheOutcome::kRestored;
          return;
        }
        if (!bytes) record.note = bytes.error().message() + "; recomputed";
      }
    }
    st.spec.body->invoke(call);
    after_run(s, key, call);
  }
};

namespace {

class CachedBody final : public StageBody {
 public:
  CachedBody(std::shared_ptr<StageCache::State> state, std::size_t stage)
      : state_(std::move(state)), stage_(stage) {}
  void invoke(StageCall& call) override { state_->invoke(stage_, call); }

 private:
  std::shared_ptr<StageCache::State> state_;
  std::size_t stage_;
};

}  // namespace

Result<std::shared_ptr<StageCache>> StageCache::attach(Graph& graph, CacheOptions options) {
  auto state = std::make_shared<State>();
  State& st = *state;
  st.options = options;
  st.fs = options.fs ? options.fs : &local_file_system();
  const StageRegistry& registry = options.registry ? *options.registry : default_registry();
  const unsigned workers =
      options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  Result<ArtifactStore> store = ArtifactStore::open(options.workdir / "artifacts", *st.fs);
  if (!store) return std::move(store).error();
  st.store = std::move(*store);
  for (const std::vector<std::string>* names : {&options.force, &options.exclude}) {
    for (const std::string& name : *names) {
      if (!graph.find(name)) return not_found("no stage called '" + name + "' in the pipeline");
    }
  }

  const std::size_t n = graph.size();
  st.stages.resize(n);
  st.digests.resize(n);
  st.records.resize(n);
  std::vector<std::vector<std::size_t>> port_consumers(n);
  std::vector<std::vector<std::vector<std::size_t>>> port_readers(n);  // stage, port -> readers
  std::vector<std::size_t> indegree(n, 0);
  std::vector<std::vector<std::size_t>> successors(n);
  for (std::size_t s = 0; s < n; ++s) {
    State::Stage& stage = st.stages[s];
    stage.spec = graph.stage(static_cast<StageId>(s));
    stage.name = stage.spec.name;
    const auto listed = [&](const std::vector<std::string>& names) {
      return std::find(names.begin(), names.end(), stage.name) != names.end();
    };
    stage.forced = listed(options.force);
    stage.gather = stage.spec.kind == "gather";
    stage.seed = stage_seed(options.run_seed, stage.name);
    stage.grant = std::min(std::max(stage.spec.threads, 1u), workers);
    bool all_codecs = true;
    for (const PortSpec& port : stage.spec.outputs) {
      stage.codecs.push_back(registry.codec(port.type));
      all_codecs = all_codecs && stage.codecs.back() != nullptr;
    }
    // A stage without outputs exists for its effects (write_csv): it always runs.
    stage.cacheable = !stage.spec.cache_identity.empty() && !stage.spec.outputs.empty() &&
                      all_codecs && !stage.gather && !listed(options.exclude);
    st.digests[s].resize(stage.spec.outputs.size());
    st.records[s].stage = static_cast<StageId>(s);
    st.records[s].outputs.resize(stage.spec.outputs.size());
    port_consumers[s].assign(stage.spec.outputs.size(), 0);
    port_readers[s].resize(stage.spec.outputs.size());
    stage.bytes.resize(stage.spec.outputs.size());
    for (const std::optional<PortRef>& src : graph.sources(static_cast<StageId>(s))) {
      stage.sources.push_back(*src);  // validated: every input is bound
      ++port_consumers[src->stage][src->port];
      port_readers[src->stage][src->port].push_back(s);
      successors[src->stage].push_back(s);
      ++indegree[s];
    }
    for (StageId before : graph.order_dependencies(static_cast<StageId>(s))) {
      successors[before].push_back(s);
      ++indegree[s];
    }
  }

  // Topological order (Kahn), for the forward and backward passes.
  std::vector<std::size_t> order;
  std::deque<std::size_t> ready;
  for (std::size_t s = 0; s < n; ++s) {
    if (indegree[s] == 0) ready.push_back(s);
  }
  while (!ready.empty()) {
    const std::size_t s = ready.front();
    ready.pop_front();
    order.push_back(s);
    for (std::size_t t : successors[s]) {
      if (--indegree[t] == 0) ready.push_back(t);
    }
  }
  if (order.size() != n) return failed_precondition("the pipeline has a cycle; validate it first");

  // Forward: keys and hits from what the store holds, with planned digests flowing downstream.
  std::vector<std::vector<std::optional<Digest>>> planned(n);
  for (std::size_t s : order) {
    State::Stage& stage = st.stages[s];
    planned[s].resize(stage.spec.outputs.size());
    std::vector<Digest> in;
    bool known = true;
    for (const PortRef& src : stage.sources) {
      known = known && planned[src.stage][src.port].has_value();
      if (known) in.push_back(*planned[src.stage][src.port]);
    }
    if (!known) continue;
    if (stage.gather) {
      planned[s][0] = gather_digest(in);
      continue;
    }
    if (!stage.cacheable) continue;
    stage.planned_key = cache_key(stage.spec, stage.seed, stage.grant, in);
    st.records[s].key = stage.planned_key;
    if (!options.read || stage.forced) continue;
    std::optional<std::vector<Digest>> entry =
        st.read_entry(*stage.planned_key, stage.spec.outputs.size());
    if (!entry) continue;
    for (std::size_t i = 0; i < entry->size(); ++i) planned[s][i] = (*entry)[i];
    if (options.verify) {
      stage.verify_against = *entry;  // runs; its key stays planned, so no run-time lookup
      continue;
    }
    stage.mode = Mode::kSkip;
    stage.planned_outputs = *entry;
  }

  // Backward, to a fixed point: a hit is restored when a stage that runs (or the report) needs
  // its outputs, and runs after all when its artifacts do not verify.
  for (;;) {
    std::vector<bool> runs(n, false);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const std::size_t s = *it;
      State::Stage& stage = st.stages[s];
      // Per output: kept by the report (nobody consumes it), always loaded, or read by a stage
      // that runs.
      stage.wanted.assign(stage.spec.outputs.size(), false);
      for (std::size_t i = 0; i < stage.spec.outputs.size(); ++i) {
        bool w = port_consumers[s][i] == 0 ||
                 std::find(options.always_load.begin(), options.always_load.end(),
                           stage.spec.outputs[i].type) != options.always_load.end();
        for (std::size_t c : port_readers[s][i]) w = w || runs[c];
        stage.wanted[i] = w;
      }
      const bool needed =
          std::find(stage.wanted.begin(), stage.wanted.end(), true) != stage.wanted.end();
      if (stage.gather) {
        runs[s] = needed || !planned[s][0].has_value();
        if (!runs[s]) {
          stage.mode = Mode::kSkip;  // its list is never built; its digest is known
          stage.planned_outputs = {*planned[s][0]};
        } else {
          stage.mode = Mode::kRun;
        }
      } else if (stage.mode == Mode::kRun) {
        runs[s] = true;
      } else {
        stage.mode = needed ? Mode::kRestore : Mode::kSkip;
      }
    }
    bool changed = false;
    for (std::size_t s : order) {
      State::Stage& stage = st.stages[s];
      if (stage.mode == Mode::kSkip && !stage.gather && !stage.presence_checked) {
        // Not loaded, but a hit only counts while its artifacts exist.
        stage.presence_checked = true;
        const auto missing =
            std::find_if(stage.planned_outputs.begin(), stage.planned_outputs.end(),
                         [&](const Digest& d) { return !st.store->present(d); });
        if (missing != stage.planned_outputs.end()) {
          st.records[s].note = "artifact " + missing->hex() + " is missing; recomputed";
          stage.mode = Mode::kRun;
          changed = true;
        }
        continue;
      }
      if (stage.mode != Mode::kRestore) continue;
      for (std::size_t i = 0; i < stage.wanted.size(); ++i) {
        if (!stage.wanted[i] || stage.bytes[i]) continue;
        Result<std::string> b = st.store->get(stage.planned_outputs[i]);
        if (b) {
          stage.bytes[i] = std::move(*b);
          continue;
        }
        st.records[s].note = b.error().message() + "; recomputed";
        stage.mode = Mode::kRun;  // its inputs are needed now: plan again
        changed = true;
        break;
      }
    }
    if (!changed) break;
  }

  for (std::size_t s = 0; s < n; ++s) {
    if (st.stages[s].mode != Mode::kRun && !st.stages[s].gather) ++st.planned_hits;
    graph.set_body(static_cast<StageId>(s), std::make_shared<CachedBody>(state, s));
  }
  return std::make_shared<StageCache>(std::move(state));
}

std::vector<StageCacheRecord> StageCache::records() const {
  return state_->records;
}

const StageCacheRecord& StageCache::record(StageId id) const noexcept {
  return state_->records[id];
}

std::size_t StageCache::planned_hits() const noexcept {
  return state_->planned_hits;
}

}  // namespace trainflow
