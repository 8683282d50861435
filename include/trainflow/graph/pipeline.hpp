// Pipeline: builds a stage graph from typed C++ callables.
//
// A stage is any callable; its inputs are outputs of earlier stages, passed as Handles. The
// callable's signature picks how it is run:
//
//   trainflow::Pipeline p{"example"};
//   auto n    = p.add("load",   [] { return std::vector<double>{1, 2, 3}; });
//   auto sum  = p.add("sum",    [](const std::vector<double>& v) { return std::accumulate(...); },
//   n); auto [lo, hi] = p.add("split", [](std::vector<double> v) {           // moved in: sole
//   consumer
//     return trainflow::outputs(first_half(v), second_half(v));           // two output ports
//   }, n);
//   p.add("check", [](trainflow::StageContext& ctx, double s) -> trainflow::Result<double> {
//     if (s < 0) return trainflow::invalid_argument("negative sum");    // fails the stage
//     return s;
//   }, sum);
//   p.add("fetch", [](double s) -> boost::asio::awaitable<double> { co_return s; }, sum);
//   p.add("notify", [](double s, trainflow::Completion<> done) { start_io(s, std::move(done)); },
//   sum);
//
// - Parameters: an optional leading `StageContext&`, then one parameter per non-void input in
//   order, then an optional trailing `Completion<T>` (an asynchronous stage that completes by
//   calling it). Take an input by `const T&` to share it, by `T` to own it (moved when this stage
//   is its only consumer, copied otherwise). Handle<void> inputs only order the stages.
// - Results: `T` (one output), `Outputs<A, B, ...>` (several), void, `Result<T>` or `Status`
//   (an error fails the stage), `asio::awaitable<T>` (a coroutine run on the executor) or
//   `std::future<T>` (polled on a timer, holding no worker). A thrown exception fails the stage.
// - Type checking happens at compile time: an input whose type differs from the parameter, or a
//   wrong number of inputs, does not compile; the error names the parameter index and both types
//   (the offending `add` call, with the stage name, is the line the compiler points at).
//
// A Pipeline must not change while it runs. Its callables may run concurrently when the pipeline
// is run concurrently, and always on executor threads.
#pragma once

#include <utility>  // before Boost.Asio 1.74's awaitable.hpp, which uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/stage_context.hpp"
#include "trainflow/graph/detail/callable_traits.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/graph/handle.hpp"
#include "trainflow/graph/stage_body.hpp"

namespace trainflow {

// Several outputs of one stage, one port each. Build with trainflow::outputs(a, b, ...).
template <class... Ts>
struct Outputs : std::tuple<Ts...> {
  using std::tuple<Ts...>::tuple;
};
template <class... Ts>
Outputs<std::decay_t<Ts>...> outputs(Ts&&... values) {
  return Outputs<std::decay_t<Ts>...>{std::forward<Ts>(values)...};
}

namespace detail {

template <class T>
struct IsOutputs : std::false_type {};
template <class... Ts>
struct IsOutputs<Outputs<Ts...>> : std::true_type {};

// Stores a stage's produced value (T or Outputs<...>) into `sink` (a StageCall or a Deferred).
template <class Sink, class V>
void store_outputs(Sink& sink, V&& value) {
  sink.set_output(0, Value::make(std::forward<V>(value)));
}
template <class Sink, class... Ts>
void store_outputs(Sink& sink, Outputs<Ts...>&& values) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (sink.set_output(static_cast<std::uint32_t>(I), Value::make(std::move(std::get<I>(values)))),
     ...);
  }
  (std::index_sequence_for<Ts...>{});
}

// Stores a stage's result (T, Outputs<...>, Result<...> or Status) into `sink`; returns the
// error to fail the stage with, or ok.
template <class Sink, class R>
Status store_result(Sink& sink, R&& result) {
  using U = std::remove_cvref_t<R>;
  if constexpr (std::is_same_v<U, Status>) {
    return std::forward<R>(result);
  } else if constexpr (is_result_v<U>) {
    if (!result.has_value()) return std::forward<R>(result).error();
    store_outputs(sink, *std::forward<R>(result));
    return {};
  } else {
    store_outputs(sink, std::forward<R>(result));
    return {};
  }
}

}  // namespace detail

// The completion of an asynchronous stage that produces T (void: nothing; Outputs<...>: several
// values). Move-only; call it exactly once, from any thread. Destroying it uncalled fails the
// stage, so a lost callback never hangs a run.
template <class T = void>
class Completion {
 public:
  explicit Completion(Deferred deferred) noexcept : deferred_(std::move(deferred)) {}

  // Succeeds with T(value).
  template <class U>
  requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&> && !is_result_v<U> &&
           !std::is_same_v<std::remove_cvref_t<U>, Status>) void
  operator()(U&& value) {
    deferred_.finish(detail::store_result(deferred_, T(std::forward<U>(value))));
  }
  // Succeeds with the value, or fails with the error.
  void operator()(Result<T> result) requires(!std::is_void_v<T>) {
    deferred_.finish(detail::store_result(deferred_, std::move(result)));
  }
  // Succeeds (a stage without outputs).
  void operator()() requires std::is_void_v<T> { deferred_.finish(); }
  // Fails the stage.
  void fail(Status status) { deferred_.finish(std::move(status)); }
  void fail(std::exception_ptr error) { deferred_.finish(std::move(error)); }

  bool pending() const noexcept { return deferred_.pending(); }

 private:
  Deferred deferred_;
};

// How Pipeline::add names and describes a stage.
struct StageOptions {
  std::string name{};                  // REQUIRES: unique in the pipeline (checked by validate)
  std::vector<std::string> inputs{};   // port names; default "in0", "in1", ...
  std::vector<std::string> outputs{};  // port names; default "out" (one) or "out0", "out1", ...
  std::string kind{};                  // what the stage is, for DOT and listings; default empty
  unsigned threads = 1;  // threads for the stage's own kernels (StageSpec::threads); default 1
  ResourceDemand resources{};  // memory, GPUs, growing grant (StageSpec::resources); default none
  // The version of the callable's code, which makes the stage cacheable: bump it whenever the
  // callable's results change for the same inputs. Default empty: never served from the cache.
  std::string version{};
  // Retries of failed attempts (StageSpec::retry). Default: none.
  RetryPolicy retry{};
  // The limit on one attempt (StageSpec::timeout). Default: none.
  std::optional<std::chrono::milliseconds> timeout{};
};

namespace detail {

template <class... Ts>
struct TypeList {};

template <class T, class List>
struct Prepend;
template <class T, class... Ts>
struct Prepend<T, TypeList<Ts...>> {
  using type = TypeList<T, Ts...>;
};

// The value-carrying inputs among a stage's handles (Handle<void> only orders stages).
template <class... Ins>
struct DataInputs {
  using type = TypeList<>;
};
template <class First, class... Rest>
struct DataInputs<First, Rest...> {
  using rest = typename DataInputs<Rest...>::type;
  using type = std::conditional_t<std::is_void_v<First>, rest, typename Prepend<First, rest>::type>;
};

template <class T>
struct IsCompletion : std::false_type {};
template <class T>
struct IsCompletion<Completion<T>> : std::true_type {
  using value_type = T;
};

// Reports a wrong number of inputs; the instantiation names both counts.
template <std::size_t Parameters, std::size_t Inputs>
struct InputCountCheck {
  static_assert(Parameters == Inputs,
                "trainflow: the stage callable takes a different number of inputs than the "
                "handles passed to Pipeline::add (InputCountCheck<Parameters, Inputs> above)");
  static constexpr bool value = Parameters == Inputs;
};

// Reports an input whose type differs from its parameter; the instantiation names the parameter
// index, the parameter type and the input type.
template <std::size_t Index, class Parameter, class Input>
struct EdgeTypeCheck {
  static constexpr bool kSame = std::is_same_v<std::remove_cvref_t<Parameter>, Input>;
  static constexpr bool kBindable =
      !std::is_lvalue_reference_v<Parameter> || std::is_const_v<std::remove_reference_t<Parameter>>;
  static_assert(
      kSame,
      "trainflow: edge type mismatch: the upstream stage produces Input but this stage's "
      "parameter #Index takes Parameter (see EdgeTypeCheck<Index, Parameter, Input> above)");
  static_assert(!kSame || kBindable,
                "trainflow: a stage cannot take an input by non-const reference (it is shared); "
                "take it by const reference, or by value to own it");
  static constexpr bool value = kSame && kBindable;
};

template <class Fn, class... D>
struct StageTraits {
  using Sig = CallableSignature<Fn>;
  static constexpr std::size_t kData = sizeof...(D);

  static constexpr bool kContext = [] {
    if constexpr (Sig::kKnown) {
      if constexpr (Sig::kArity > 0) {
        return std::is_same_v<std::remove_cvref_t<std::tuple_element_t<0, typename Sig::Params>>,
                              StageContext>;
      }
      return false;
    } else {
      return !std::is_invocable_v<Fn&, const D&...> &&
             std::is_invocable_v<Fn&, StageContext&, const D&...>;
    }
  }();
  static constexpr std::size_t kOffset = kContext ? 1 : 0;

  static constexpr bool kCompletion = [] {
    if constexpr (Sig::kKnown && Sig::kArity > kOffset) {
      return IsCompletion<
          std::remove_cvref_t<std::tuple_element_t<Sig::kArity - 1, typename Sig::Params>>>::value;
    }
    return false;
  }();
  using CompletionType = std::conditional_t<
      kCompletion,
      std::remove_cvref_t<typename ParamOr<Sig, Sig::kArity - 1, Completion<void>>::type>, void>;

  template <std::size_t I>
  using Input = std::tuple_element_t<I, std::tuple<D...>>;
  template <std::size_t I>
  using Param = typename ParamOr<Sig, kOffset + I, const Input<I>&>::type;
  // Whether input I is taken by value (moved when sole consumer) rather than by const reference.
  template <std::size_t I>
  static constexpr bool kTakes = Sig::kKnown && !std::is_lvalue_reference_v<Param<I>>;

  static constexpr bool kCountOk = [] {
    if constexpr (Sig::kKnown) {
      return InputCountCheck<Sig::kArity - kOffset - (kCompletion ? 1 : 0), kData>::value;
    }
    return true;
  }();

  static constexpr bool kEdgesOk = [] {
    if constexpr (Sig::kKnown && kCountOk) {
      return []<std::size_t... I>(std::index_sequence<I...>) {
        return (EdgeTypeCheck<I, Param<I>, Input<I>>::value && ...);
      }
      (std::make_index_sequence<kData>{});
    }
    return kCountOk;
  }();
};

template <class Traits, std::size_t I>
using ArgType = std::conditional_t<Traits::template kTakes<I>, typename Traits::template Input<I>,
                                   const typename Traits::template Input<I>&>;

template <class Traits, class Fn, class Seq>
struct InvokeResult;
template <class Traits, class Fn, std::size_t... I>
struct InvokeResult<Traits, Fn, std::index_sequence<I...>> {
  template <class... Pre>
  using WithPre = std::conditional_t<
      Traits::kCompletion,
      std::invoke_result<Fn&, Pre..., ArgType<Traits, I>..., typename Traits::CompletionType>,
      std::invoke_result<Fn&, Pre..., ArgType<Traits, I>...>>;
  using type =
      typename std::conditional_t<Traits::kContext, WithPre<StageContext&>, WithPre<>>::type;
};

template <class Traits, class Fn, class Seq>
struct IsInvocable;
template <class Traits, class Fn, std::size_t... I>
struct IsInvocable<Traits, Fn, std::index_sequence<I...>> {
  static constexpr bool value = [] {
    if constexpr (Traits::kContext) {
      if constexpr (Traits::kCompletion) {
        return std::is_invocable_v<Fn&, StageContext&, ArgType<Traits, I>...,
                                   typename Traits::CompletionType>;
      } else {
        return std::is_invocable_v<Fn&, StageContext&, ArgType<Traits, I>...>;
      }
    } else if constexpr (Traits::kCompletion) {
      return std::is_invocable_v<Fn&, ArgType<Traits, I>..., typename Traits::CompletionType>;
    } else {
      return std::is_invocable_v<Fn&, ArgType<Traits, I>...>;
    }
  }();
};

// What a stage produces, by the callable's return type R.
enum class StageMode : unsigned char { kSync, kCompletion, kCoroutine, kFuture };

// The produced value after unwrapping Result<> or Status; void when nothing.
template <class R>
struct Produced {
  using type = std::conditional_t<std::is_same_v<R, Status>, void, R>;
};
template <class V>
struct Produced<Result<V>> {
  using type = V;
};

template <class V>
struct OutputList {
  using type = TypeList<V>;
};
template <>
struct OutputList<void> {
  using type = TypeList<>;
};
template <class... Ts>
struct OutputList<Outputs<Ts...>> {
  using type = TypeList<Ts...>;
};

template <class R, class Traits>
struct ModeOf {
  static constexpr StageMode kMode =
      Traits::kCompletion ? StageMode::kCompletion : StageMode::kSync;
  using Returned =
      std::conditional_t<Traits::kCompletion,
                         typename IsCompletion<typename Traits::CompletionType>::value_type, R>;
};
template <class X, class Ex, class Traits>
struct ModeOf<boost::asio::awaitable<X, Ex>, Traits> {
  static constexpr StageMode kMode = StageMode::kCoroutine;
  using Returned = X;
};
template <class X, class Traits>
struct ModeOf<std::future<X>, Traits> {
  static constexpr StageMode kMode = StageMode::kFuture;
  using Returned = X;
};

// Calls `poll` on executor threads, with growing pauses (50 us to 10 ms), until it returns true.
// Holds no worker in between.
void poll_until(Executor& executor, std::function<bool()> poll);

template <class Traits, class Fn, class R>
class TypedBody final : public StageBody {
  using Mode = ModeOf<R, Traits>;

 public:
  explicit TypedBody(Fn fn) : fn_(std::move(fn)) {}

  void invoke(StageCall& call) override { run(call); }
  Entry entry() const noexcept override {
    return [](StageBody& self, StageCall& call) { static_cast<TypedBody&>(self).run(call); };
  }

 private:
  void run(StageCall& call) {
    if constexpr (Mode::kMode == StageMode::kSync) {
      if constexpr (std::is_void_v<R>) {
        apply(call, call.context());
      } else {
        Status status = store_result(call, apply(call, call.context()));
        if (!status.ok()) call.fail(std::move(status));
      }
    } else if constexpr (Mode::kMode == StageMode::kCompletion) {
      Deferred deferred = call.defer();
      StageContext& ctx = deferred.context();  // lives as long as the completion
      apply(call, ctx, typename Traits::CompletionType{std::move(deferred)});
    } else if constexpr (Mode::kMode == StageMode::kCoroutine) {
      Deferred deferred = call.defer();
      auto awaitable = apply(call, deferred.context());
      auto executor = deferred.context().executor().get_executor();
      boost::asio::co_spawn(executor, finish_when_done(std::move(awaitable), std::move(deferred)),
                            boost::asio::detached);
    } else {
      auto deferred = std::make_shared<Deferred>(call.defer());
      auto future = std::make_shared<R>(apply(call, deferred->context()));
      poll_until(deferred->context().executor(), [future, deferred] {
        // A std::launch::deferred future runs its function in get(): run it here.
        if (future->wait_for(std::chrono::seconds(0)) == std::future_status::timeout) {
          if (!deferred->context().stop_requested()) return false;
          deferred->finish(cancelled("stopped while waiting for its future"));
          return true;
        }
        try {
          if constexpr (std::is_void_v<typename Mode::Returned>) {
            future->get();
            deferred->finish();
          } else {
            deferred->finish(store_result(*deferred, future->get()));
          }
        } catch (...) {
          deferred->finish(std::current_exception());
        }
        return true;
      });
    }
  }

  // Runs a coroutine stage's awaitable and completes the stage with its result or exception.
  // Parameters, not captures: they live in the coroutine frame.
  template <class Awaitable>
  static boost::asio::awaitable<void> finish_when_done(Awaitable awaitable, Deferred deferred) {
    try {
      if constexpr (std::is_void_v<typename Mode::Returned>) {
        co_await std::move(awaitable);
        deferred.finish();
      } else {
        auto result = co_await std::move(awaitable);
        deferred.finish(store_result(deferred, std::move(result)));
      }
    } catch (...) {
      deferred.finish(std::current_exception());
    }
  }

  template <class... Extra>
  decltype(auto) apply(StageCall& call, StageContext& ctx, Extra&&... extra) {
    return [&]<std::size_t... I>(std::index_sequence<I...>)->decltype(auto) {
      if constexpr (Traits::kContext) {
        return std::invoke(fn_, ctx, arg<I>(call)..., std::forward<Extra>(extra)...);
      } else {
        return std::invoke(fn_, arg<I>(call)..., std::forward<Extra>(extra)...);
      }
    }
    (std::make_index_sequence<Traits::kData>{});
  }

  template <std::size_t I>
  decltype(auto) arg(StageCall& call) {
    using D = typename Traits::template Input<I>;
    if constexpr (Traits::template kTakes<I>) {
      return call.template take_input<D>(static_cast<std::uint32_t>(I));
    } else {
      return (call.input(static_cast<std::uint32_t>(I)).template get<D>());
    }
  }

  Fn fn_;
};

// The body of Pipeline::gather: its inputs, in order, as one std::vector<T>.
template <class T>
class GatherBody final : public StageBody {
 public:
  void invoke(StageCall& call) override {
    std::vector<T> out;
    out.reserve(call.num_inputs());
    for (std::uint32_t i = 0; i < call.num_inputs(); ++i) {
      out.push_back(call.template take_input<T>(i));
    }
    call.set_output(0, Value::make(std::move(out)));
  }
};

template <class List>
struct HandlesOf;
template <>
struct HandlesOf<TypeList<>> {
  using type = Handle<void>;
};
template <class T>
struct HandlesOf<TypeList<T>> {
  using type = Handle<T>;
};
template <class A, class B, class... Rest>
struct HandlesOf<TypeList<A, B, Rest...>> {
  using type = std::tuple<Handle<A>, Handle<B>, Handle<Rest>...>;
};

template <class... Ts>
std::vector<PortSpec> port_specs(TypeList<Ts...>, const std::vector<std::string>& names,
                                 const char* prefix, bool single_is_plain) {
  std::vector<PortSpec> ports;
  std::size_t i = 0;
  [[maybe_unused]] auto add_port = [&](TypeId type) {
    std::string name = i < names.size() ? names[i]
                       : single_is_plain && sizeof...(Ts) == 1
                           ? std::string(prefix)
                           : std::string(prefix) + std::to_string(i);
    ports.push_back({std::move(name), type});
    ++i;
  };
  (add_port(type_id<Ts>()), ...);
  return ports;
}

// The StageSpec of a typed stage: ports named from `options`, body wrapping `fn`.
template <class Traits, class R, class OutList, class... D, class Fn>
StageSpec typed_spec(StageOptions options, Fn fn) {
  StageSpec spec;
  spec.inputs = port_specs(TypeList<D...>{}, options.inputs, "in", false);
  spec.outputs = port_specs(OutList{}, options.outputs, "out", true);
  spec.name = std::move(options.name);
  spec.kind = std::move(options.kind);
  spec.threads = options.threads;
  spec.resources = options.resources;
  spec.retry = std::move(options.retry);
  spec.timeout = options.timeout;
  if (!options.version.empty()) {
    spec.cache_identity = "cpp:" + spec.name + "@" + options.version;
  }
  spec.body = std::make_shared<TypedBody<Traits, Fn, R>>(std::move(fn));
  return spec;
}

}  // namespace detail

class Pipeline {
 public:
  explicit Pipeline(std::string name = "pipeline") : graph_(std::move(name)) {}

  // Adds a stage called `name` that calls `fn` with the values of `inputs`. Returns a Handle to
  // its output (Handle<void> when it produces nothing; a tuple of Handles for Outputs<...>).
  // Does not compile when the inputs do not match the callable's parameters.
  template <class F, class... Ins>
  auto add(std::string name, F&& fn, const Handle<Ins>&... inputs) {
    return add(StageOptions{.name = std::move(name)}, std::forward<F>(fn), inputs...);
  }
  // As above, with port names and a kind. REQUIRES: options.inputs / options.outputs are empty or
  // have one name per port.
  template <class F, class... Ins>
  auto add(StageOptions options, F&& fn, const Handle<Ins>&... inputs) {
    return add_stage(typename detail::DataInputs<Ins...>::type{}, std::move(options),
                     std::forward<F>(fn), inputs...);
  }

  // Adds a stage called `name` whose output is the values of `items`, in order, as one
  // std::vector<T>: how a stage takes the results of a sweep whose size is known only at run
  // time (a workflow file's list inputs are gathered the same way). Each value is copied, or
  // moved when the gather stage is its only consumer. REQUIRES: items are handles of this
  // pipeline.
  //
  //   std::vector<Handle<Metrics>> scores = ...;   // one per trial
  //   auto best = p.add("best", pick_best, p.gather("scores", scores));
  template <class T>
  Handle<std::vector<T>> gather(std::string name, std::span<const Handle<T>> items) {
    static_assert(!std::is_void_v<T>, "trainflow: gather needs handles that carry values");
    StageSpec spec;
    spec.name = std::move(name);
    spec.kind = "gather";
    for (std::size_t i = 0; i < items.size(); ++i) {
      spec.inputs.push_back({"in" + std::to_string(i), type_id<T>()});
    }
    spec.outputs.push_back({"out", type_id<std::vector<T>>()});
    spec.body = std::make_shared<detail::GatherBody<T>>();
    const StageId id = graph_.add_stage(std::move(spec));
    for (std::size_t i = 0; i < items.size(); ++i) {
      graph_.connect(items[i].ref(), {id, static_cast<std::uint32_t>(i)});
    }
    return Handle<std::vector<T>>{id, 0};
  }
  template <class T>
  Handle<std::vector<T>> gather(std::string name, const std::vector<Handle<T>>& items) {
    return gather(std::move(name), std::span<const Handle<T>>(items));
  }

  // Makes `after` wait for `before` without passing a value.
  template <class A, class B>
  void order(const Handle<A>& before, const Handle<B>& after) {
    graph_.add_dependency(before.stage(), after.stage());
  }

  const std::string& name() const noexcept { return graph_.name(); }
  std::size_t size() const noexcept { return graph_.size(); }
  // Ok, or every problem at once (see Graph::validate).
  Status validate() const { return graph_.validate(); }
  std::string to_dot() const { return graph_.to_dot(); }

  // The type-erased graph underneath. The mutable one is for code that wraps stage bodies
  // (StageCache::attach); typed handles stay valid as long as no stage or edge is removed.
  const Graph& graph() const noexcept { return graph_; }
  Graph& graph() noexcept { return graph_; }

 private:
  template <class... D, class F, class... Ins>
  auto add_stage(detail::TypeList<D...>, StageOptions options, F&& fn,
                 const Handle<Ins>&... inputs) {
    using Fn = std::decay_t<F>;
    using Traits = detail::StageTraits<Fn, D...>;
    if constexpr (!Traits::kEdgesOk) {
      return Handle<void>{0, 0};  // a static_assert above says why
    } else {
      constexpr bool kInvocable =
          detail::IsInvocable<Traits, Fn, std::make_index_sequence<sizeof...(D)>>::value;
      static_assert(kInvocable,
                    "trainflow: the stage callable cannot be called with the values of its "
                    "inputs (in order, after an optional StageContext&)");
      if constexpr (!kInvocable) {
        return Handle<void>{0, 0};
      } else {
        using R =
            typename detail::InvokeResult<Traits, Fn, std::make_index_sequence<sizeof...(D)>>::type;
        using Mode = detail::ModeOf<R, Traits>;
        static_assert(Mode::kMode != detail::StageMode::kCompletion || std::is_void_v<R>,
                      "trainflow: a stage that takes a Completion must return void");
        using Produced = typename detail::Produced<typename Mode::Returned>::type;
        using OutList = typename detail::OutputList<Produced>::type;

        StageSpec spec = detail::typed_spec<Traits, R, OutList, D...>(std::move(options),
                                                                      Fn(std::forward<F>(fn)));
        const StageId id = graph_.add_stage(std::move(spec));
        std::uint32_t port = 0;
        (bind(id, port, inputs), ...);
        return handles(id, OutList{});
      }
    }
  }

  template <class T>
  void bind(StageId id, std::uint32_t& port, const Handle<T>& input) {
    if constexpr (std::is_void_v<T>) {
      graph_.add_dependency(input.stage(), id);
    } else {
      graph_.connect(input.ref(), {id, port++});
    }
  }

  template <class... Ts>
  static auto handles(StageId id, detail::TypeList<Ts...>) {
    using H = typename detail::HandlesOf<detail::TypeList<Ts...>>::type;
    if constexpr (sizeof...(Ts) == 0) {
      return H{id, UINT32_MAX};
    } else if constexpr (sizeof...(Ts) == 1) {
      return H{id, 0};
    } else {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return H{Handle<Ts>{id, static_cast<std::uint32_t>(I)}...};
      }
      (std::index_sequence_for<Ts...>{});
    }
  }

  Graph graph_;
};

// The StageSpec that Pipeline::add would build for `fn` taking values of types In... (after an
// optional StageContext&), without adding it anywhere: for code that assembles a Graph itself
// (stage registries, benchmarks). Its ports are typed and named as Pipeline::add names them.
template <class... In, class F>
StageSpec make_stage_spec(StageOptions options, F&& fn) {
  using Fn = std::decay_t<F>;
  using Traits = detail::StageTraits<Fn, In...>;
  static_assert(Traits::kEdgesOk, "trainflow: the stage callable does not take these inputs");
  static_assert(detail::IsInvocable<Traits, Fn, std::make_index_sequence<sizeof...(In)>>::value,
                "trainflow: the stage callable cannot be called with values of its input types "
                "(in order, after an optional StageContext&)");
  using R =
      typename detail::InvokeResult<Traits, Fn, std::make_index_sequence<sizeof...(In)>>::type;
  using Mode = detail::ModeOf<R, Traits>;
  using Produced = typename detail::Produced<typename Mode::Returned>::type;
  using OutList = typename detail::OutputList<Produced>::type;
  return detail::typed_spec<Traits, R, OutList, In...>(std::move(options), Fn(std::forward<F>(fn)));
}

}  // namespace trainflow
