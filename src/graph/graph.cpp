#include "trainflow/graph/graph.hpp"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/range/iterator_range.hpp>
#include <cassert>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>

#include "graph/plan.hpp"
#include "trainflow/core/hash.hpp"

namespace trainflow {

namespace {

constexpr std::uint32_t kOrderOnly = UINT32_MAX;

struct EdgeProps {
  std::uint32_t from_port = kOrderOnly;  // kOrderOnly: a plain dependency, no value
  std::uint32_t to_port = kOrderOnly;
};

// Edges are never removed, so the edge list is a vector too (no allocation per edge).
using BglGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, StageSpec,
                                       EdgeProps, boost::no_property, boost::vecS>;

std::string quoted(std::string_view name) {
  std::string out = "'";
  out += name;
  out += '\'';
  return out;
}

}  // namespace

struct Graph::Impl {
  std::string name;
  BglGraph g;
  mutable std::mutex plan_mutex;
  mutable std::shared_ptr<const detail::Plan> cached_plan;  // null until built, or after a change

  void changed() {
    // A graph must not change while it runs or validates, so no plan() call can race with this.
    if (cached_plan) {
      std::lock_guard lock{plan_mutex};
      cached_plan.reset();
    }
  }

  std::string describe_port(PortRef ref, bool output) const {
    const StageSpec& s = g[ref.stage];
    const auto& ports = output ? s.outputs : s.inputs;
    std::string out = quoted(s.name);
    out += output ? " output " : " input ";
    if (ref.port < ports.size()) {
      out += quoted(ports[ref.port].name);
    } else {
      out += '#' + std::to_string(ref.port);
    }
    return out;
  }

  // One cycle per strongly connected component that has one, as "a -> b -> a".
  std::vector<std::string> cycles() const {
    const auto n = boost::num_vertices(g);
    std::vector<std::size_t> component(n);
    const auto count = boost::strong_components(
        g,
        boost::make_iterator_property_map(component.begin(), boost::get(boost::vertex_index, g)));
    std::vector<std::size_t> size(count, 0);
    for (auto c : component) ++size[c];
    std::vector<bool> reported(count, false);
    std::vector<std::string> out;
    for (std::size_t v = 0; v < n; ++v) {
      const auto c = component[v];
      if (reported[c]) continue;
      bool self_loop = false;
      for (auto [e, end] = boost::out_edges(v, g); e != end; ++e) {
        if (boost::target(*e, g) == v) self_loop = true;
      }
      if (size[c] < 2 && !self_loop) continue;
      reported[c] = true;
      // Shortest path from v back to v inside its component (breadth-first).
      std::vector<std::size_t> parent(n, SIZE_MAX);
      std::deque<std::size_t> queue{v};
      std::size_t last = SIZE_MAX;
      while (!queue.empty() && last == SIZE_MAX) {
        const auto u = queue.front();
        queue.pop_front();
        for (auto [e, end] = boost::out_edges(u, g); e != end; ++e) {
          const auto w = boost::target(*e, g);
          if (component[w] != c) continue;
          if (w == v) {
            last = u;
            break;
          }
          if (parent[w] == SIZE_MAX) {
            parent[w] = u;
            queue.push_back(w);
          }
        }
      }
      std::vector<std::size_t> path;
      for (auto u = last; u != v; u = parent[u]) path.push_back(u);
      path.push_back(v);
      std::reverse(path.begin(), path.end());
      std::string text = "cycle: ";
      for (auto u : path) text += quoted(g[u].name) + " -> ";
      text += quoted(g[v].name);
      out.push_back(std::move(text));
    }
    return out;
  }

  std::vector<std::string> problems() const {
    std::vector<std::string> out;
    const auto n = boost::num_vertices(g);

    // Duplicate names: sort (hash, id) pairs instead of filling a node-based hash map, which
    // costs a cache miss and an allocation per stage. Messages come out in stage order.
    std::vector<std::pair<std::size_t, std::string>> name_problems;
    std::vector<std::pair<std::uint64_t, std::size_t>> keyed;
    keyed.reserve(n);
    for (std::size_t v = 0; v < n; ++v) {
      if (g[v].name.empty()) {
        name_problems.emplace_back(v, "stage #" + std::to_string(v) + " has no name");
      } else {
        keyed.emplace_back(hash64(g[v].name), v);
      }
    }
    std::sort(keyed.begin(), keyed.end());
    for (std::size_t run = 0; run < keyed.size();) {
      std::size_t end = run + 1;
      while (end < keyed.size() && keyed[end].first == keyed[run].first) ++end;
      for (std::size_t j = run + 1; j < end; ++j) {  // ids ascend within a run of equal hashes
        const std::size_t v = keyed[j].second;
        for (std::size_t k = run; k < j; ++k) {
          const std::size_t first = keyed[k].second;
          if (g[first].name != g[v].name) continue;
          name_problems.emplace_back(v, "duplicate stage name " + quoted(g[v].name) + ": stages #" +
                                            std::to_string(first) + " and #" + std::to_string(v) +
                                            "; rename one of them");
          break;
        }
      }
      run = end;
    }
    std::sort(name_problems.begin(), name_problems.end());
    for (auto& [v, message] : name_problems) out.push_back(std::move(message));

    // Retry policies and timeouts.
    for (std::size_t v = 0; v < n; ++v) {
      for (const std::string& p : g[v].retry.problems()) {
        out.push_back("stage " + quoted(g[v].name) + ": " + p);
      }
      if (g[v].timeout && g[v].timeout->count() <= 0) {
        out.push_back("stage " + quoted(g[v].name) + ": timeout must be positive, not " +
                      std::to_string(g[v].timeout->count()) + " ms");
      }
      const ResourceDemand& r = g[v].resources;
      if (r.max_threads != 0 && r.max_threads < std::max(1u, g[v].threads)) {
        out.push_back("stage " + quoted(g[v].name) + ": resources.max_threads (" +
                      std::to_string(r.max_threads) + ") must be 0 or at least its threads (" +
                      std::to_string(g[v].threads) + ")");
      }
      if (r.gpu_memory_bytes != 0 && r.gpus == 0) {
        out.push_back("stage " + quoted(g[v].name) +
                      ": resources.gpu_memory_bytes is set but resources.gpus is 0");
      }
    }

    // How often each input port is bound: bound[bound_offset[v] + port].
    std::vector<std::size_t> bound_offset(n + 1, 0);
    for (std::size_t v = 0; v < n; ++v) bound_offset[v + 1] = bound_offset[v] + g[v].inputs.size();
    std::vector<int> bound(bound_offset[n], 0);
    for (auto [e, end] = boost::edges(g); e != end; ++e) {
      const auto& p = g[*e];
      if (p.from_port == kOrderOnly) continue;
      const PortRef from{static_cast<StageId>(boost::source(*e, g)), p.from_port};
      const PortRef to{static_cast<StageId>(boost::target(*e, g)), p.to_port};
      const StageSpec& src = g[from.stage];
      const StageSpec& dst = g[to.stage];
      bool ports_ok = true;
      if (from.port >= src.outputs.size()) {
        out.push_back(describe_port(from, true) + " does not exist: " + quoted(src.name) + " has " +
                      std::to_string(src.outputs.size()) + " output(s)");
        ports_ok = false;
      }
      if (to.port >= dst.inputs.size()) {
        out.push_back(describe_port(to, false) + " does not exist: " + quoted(dst.name) + " has " +
                      std::to_string(dst.inputs.size()) + " input(s)");
        ports_ok = false;
      }
      if (!ports_ok) continue;
      if (++bound[bound_offset[to.stage] + to.port] == 2) {
        out.push_back(describe_port(to, false) + " is bound more than once; bind it to one output");
      }
      const TypeId have = src.outputs[from.port].type;
      const TypeId want = dst.inputs[to.port].type;
      if (have != want) {
        out.push_back("type mismatch: " + describe_port(from, true) + " produces " +
                      std::string(have.name()) + " but " + describe_port(to, false) + " takes " +
                      std::string(want.name()));
      }
    }
    for (std::size_t v = 0; v < n; ++v) {
      for (std::size_t k = 0; k < g[v].inputs.size(); ++k) {
        if (bound[bound_offset[v] + k] == 0) {
          out.push_back(
              describe_port({static_cast<StageId>(v), static_cast<std::uint32_t>(k)}, false) +
              " is not bound to any output; connect it to an upstream stage");
        }
      }
    }
    if (!acyclic()) {
      for (auto& c : cycles()) out.push_back(std::move(c));
    }
    return out;
  }

  // Kahn's algorithm: whether every stage can be ordered. Cheap; the strongly connected
  // components that name the cycles are computed only when it says no.
  bool acyclic() const {
    const auto n = boost::num_vertices(g);
    std::vector<std::size_t> pending(n);
    std::vector<std::size_t> ready;
    for (std::size_t v = 0; v < n; ++v) {
      pending[v] = boost::in_degree(v, g);
      if (pending[v] == 0) ready.push_back(v);
    }
    std::size_t ordered = 0;
    while (!ready.empty()) {
      const std::size_t u = ready.back();
      ready.pop_back();
      ++ordered;
      for (auto [e, end] = boost::out_edges(u, g); e != end; ++e) {
        if (--pending[boost::target(*e, g)] == 0) ready.push_back(boost::target(*e, g));
      }
    }
    return ordered == n;
  }

  std::shared_ptr<const detail::Plan> build_plan() const {
    auto out = std::make_shared<detail::Plan>();
    detail::Plan* plan = out.get();
    const auto n = static_cast<std::uint32_t>(boost::num_vertices(g));
    assert(n <= detail::Plan::kStageMask && "a graph holds fewer than 2^31 stages");
    plan->graph_name = name;
    plan->num_stages = n;
    plan->names.reserve(n);
    plan->bodies.reserve(n);
    plan->name_hashes.reserve(n);
    plan->output_offsets.resize(n + 1, 0);
    plan->input_offsets.resize(n + 1, 0);
    for (std::uint32_t v = 0; v < n; ++v) {
      plan->names.push_back(g[v].name);
      plan->bodies.push_back(g[v].body);
      plan->name_hashes.push_back(hash64(g[v].name));
      plan->output_offsets[v + 1] =
          plan->output_offsets[v] + static_cast<std::uint32_t>(g[v].outputs.size());
      plan->input_offsets[v + 1] =
          plan->input_offsets[v] + static_cast<std::uint32_t>(g[v].inputs.size());
    }
    plan->num_slots = plan->output_offsets[n];
    plan->slot_types.reserve(plan->num_slots);
    for (std::uint32_t v = 0; v < n; ++v) {
      for (const auto& port : g[v].outputs) plan->slot_types.push_back(port.type);
    }
    plan->input_slots.assign(plan->input_offsets[n], 0);
    plan->slot_consumers.assign(plan->num_slots, 0);

    plan->succ_offsets.assign(n + 1, 0);
    plan->num_preds.assign(n, 0);
    std::vector<std::uint32_t> targets;
    for (std::uint32_t v = 0; v < n; ++v) {
      targets.clear();
      for (auto [e, end] = boost::out_edges(v, g); e != end; ++e) {
        const auto w = static_cast<std::uint32_t>(boost::target(*e, g));
        targets.push_back(w);
        const auto& p = g[*e];
        if (p.from_port != kOrderOnly) {
          const auto slot = plan->output_offsets[v] + p.from_port;
          plan->input_slots[plan->input_offsets[w] + p.to_port] = slot;
          ++plan->slot_consumers[slot];
        }
      }
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      for (auto w : targets) {
        plan->succs.push_back(w);
        ++plan->num_preds[w];
      }
      plan->succ_offsets[v + 1] = static_cast<std::uint32_t>(plan->succs.size());
      if (targets.empty()) ++plan->num_sinks;
    }
    for (std::uint32_t v = 0; v < n; ++v) {
      if (plan->num_preds[v] == 0) plan->sources.push_back(v);
    }
    for (auto& succ : plan->succs) {
      if (plan->num_preds[succ] == 1) succ |= detail::Plan::kSinglePredecessor;
    }
    plan->sole_consumer = std::make_unique<bool[]>(plan->num_slots);
    for (std::uint32_t s = 0; s < plan->num_slots; ++s) {
      plan->sole_consumer[s] = plan->slot_consumers[s] == 1;
    }
    plan->info.resize(n);
    for (std::uint32_t v = 0; v < n; ++v) {
      detail::StageInfo& info = plan->info[v];
      info.body = plan->bodies[v].get();
      info.entry = info.body->entry();
      info.succ_begin = plan->succ_offsets[v];
      info.succ_end = plan->succ_offsets[v + 1];
      info.in_begin = plan->input_offsets[v];
      info.in_end = plan->input_offsets[v + 1];
      info.out_begin = plan->output_offsets[v];
      info.out_end = plan->output_offsets[v + 1];
      info.num_preds = plan->num_preds[v];
      info.threads = std::max(1u, g[v].threads);
      if (g[v].retry.retries() || g[v].timeout) {
        info.control = static_cast<std::uint32_t>(plan->controls.size());
        plan->controls.push_back({v, g[v].retry, g[v].timeout});
        // A retried stage reads its inputs again: it must never move them out.
        if (g[v].retry.retries()) {
          for (std::uint32_t k = info.in_begin; k < info.in_end; ++k) {
            plan->sole_consumer[plan->input_slots[k]] = false;
          }
        }
      }
    }
    bool declares = false;
    for (std::uint32_t v = 0; v < n && !declares; ++v) {
      declares = g[v].threads > 1 || g[v].resources != ResourceDemand{};
    }
    if (declares) {
      plan->demands.resize(n);
      for (std::uint32_t v = 0; v < n; ++v) plan->demands[v] = g[v].resources;
    }
    return out;
  }
};

Graph::Graph(std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
}
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
Graph::~Graph() = default;

const std::string& Graph::name() const noexcept {
  return impl_->name;
}

StageId Graph::add_stage(StageSpec spec) {
  assert(spec.body && "StageSpec::body must not be null");
  impl_->changed();
  return static_cast<StageId>(boost::add_vertex(std::move(spec), impl_->g));
}

void Graph::connect(PortRef from, PortRef to) {
  assert(from.stage < size() && to.stage < size() && "connect: unknown stage id");
  impl_->changed();
  boost::add_edge(from.stage, to.stage, EdgeProps{from.port, to.port}, impl_->g);
}

void Graph::add_dependency(StageId before, StageId after) {
  assert(before < size() && after < size() && "add_dependency: unknown stage id");
  impl_->changed();
  boost::add_edge(before, after, EdgeProps{}, impl_->g);
}

std::size_t Graph::size() const noexcept {
  return boost::num_vertices(impl_->g);
}
std::size_t Graph::num_edges() const noexcept {
  return boost::num_edges(impl_->g);
}

const StageSpec& Graph::stage(StageId id) const noexcept {
  assert(id < size());
  return impl_->g[id];
}

std::vector<std::optional<PortRef>> Graph::sources(StageId id) const {
  assert(id < size());
  std::vector<std::optional<PortRef>> out(impl_->g[id].inputs.size());
  for (const auto e : boost::make_iterator_range(boost::in_edges(id, impl_->g))) {
    const EdgeProps& p = impl_->g[e];
    if (p.to_port == kOrderOnly || p.to_port >= out.size() || out[p.to_port]) continue;
    out[p.to_port] = PortRef{static_cast<StageId>(boost::source(e, impl_->g)), p.from_port};
  }
  return out;
}

std::vector<StageId> Graph::order_dependencies(StageId id) const {
  assert(id < size());
  std::vector<StageId> out;
  for (const auto e : boost::make_iterator_range(boost::in_edges(id, impl_->g))) {
    if (impl_->g[e].to_port == kOrderOnly) {
      out.push_back(static_cast<StageId>(boost::source(e, impl_->g)));
    }
  }
  return out;
}

void Graph::set_body(StageId id, std::shared_ptr<StageBody> body) {
  assert(id < size() && body && "set_body: unknown stage or null body");
  impl_->changed();
  impl_->g[id].body = std::move(body);
}

std::optional<StageId> Graph::find(std::string_view name) const {
  for (std::size_t v = 0; v < size(); ++v) {
    if (impl_->g[v].name == name) return static_cast<StageId>(v);
  }
  return std::nullopt;
}

Status Graph::validate() const {
  const auto problems = impl_->problems();
  if (problems.empty()) return {};
  std::string message = "pipeline " + quoted(impl_->name) + " is invalid (" +
                        std::to_string(problems.size()) + " problem" +
                        (problems.size() == 1 ? "" : "s") + "):";
  for (const auto& p : problems) message += "\n  " + p;
  return failed_precondition(std::move(message));
}

Result<std::shared_ptr<const detail::Plan>> Graph::plan() const {
  std::lock_guard lock{impl_->plan_mutex};
  if (!impl_->cached_plan) {
    if (Status s = validate(); !s.ok()) return s;
    impl_->cached_plan = impl_->build_plan();
  }
  return impl_->cached_plan;
}

namespace {

std::string dot_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string Graph::to_dot() const {
  const auto& g = impl_->g;
  std::ostringstream out;
  out << "digraph \"" << dot_escape(impl_->name) << "\" {\n";
  out << "  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  for (std::size_t v = 0; v < boost::num_vertices(g); ++v) {
    out << "  s" << v << " [label=\"" << dot_escape(g[v].name);
    if (!g[v].kind.empty()) out << "\\n" << dot_escape(g[v].kind);
    out << "\"];\n";
  }
  for (auto [e, end] = boost::edges(g); e != end; ++e) {
    const auto u = boost::source(*e, g);
    const auto w = boost::target(*e, g);
    const auto& p = g[*e];
    out << "  s" << u << " -> s" << w;
    if (p.from_port == kOrderOnly) {
      out << " [style=dashed]";
    } else {
      const bool known = p.from_port < g[u].outputs.size() && p.to_port < g[w].inputs.size();
      std::string label = known ? dot_escape(g[u].outputs[p.from_port].name) + " -> " +
                                      dot_escape(g[w].inputs[p.to_port].name) + "\\n" +
                                      dot_escape(g[u].outputs[p.from_port].type.name())
                                : std::string{"?"};
      out << " [label=\"" << label << "\"]";
    }
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace trainflow
