// StageBody and StageCall: the type-erased interface between the executor and a stage's code.
//
// Most users never see these: Pipeline::add wraps any callable into a StageBody. They are public
// for code that builds stages at run time (the workflow-file loader, bindings), which implements
// StageBody::invoke over a StageCall:
//
//   class Doubler final : public trainflow::StageBody {
//     void invoke(trainflow::StageCall& call) override {
//       call.set_output(0, trainflow::Value::make(2 * call.input(0).get<int>()));
//     }
//   };
//
// A StageBody may be invoked concurrently by concurrent runs of the same graph; invoke must not
// mutate shared state without synchronisation. A StageCall belongs to one invocation and must not
// be shared between threads, except through the Deferred it hands out.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

#include "trainflow/core/status.hpp"
#include "trainflow/exec/stage_context.hpp"
#include "trainflow/graph/value.hpp"

namespace trainflow {

class StageCall;

class StageBody {
 public:
  virtual ~StageBody() = default;
  // Runs the stage once. Synchronous bodies set every output and return; a failure is reported
  // by throwing or by StageCall::fail. Asynchronous bodies call StageCall::defer and return at
  // once; the stage then completes when the Deferred is finished, from any thread.
  virtual void invoke(StageCall& call) = 0;

  // Optional: a plain function equivalent to invoke(), which the executor then calls directly,
  // sparing the load of this object's vtable (a cache miss per stage in large graphs). Null
  // (the default) means: call invoke().
  using Entry = void (*)(StageBody& self, StageCall& call);
  virtual Entry entry() const noexcept { return nullptr; }
};

// Completes an asynchronous stage. Move-only; finish exactly once. Destroying an unfinished
// Deferred fails the stage ("completion dropped"), so a lost handler never hangs a run.
class Deferred {
 public:
  Deferred() noexcept = default;
  Deferred(Deferred&& other) noexcept
      : run_(std::exchange(other.run_, nullptr)),
        stage_(other.stage_),
        context_(std::move(other.context_)) {}
  Deferred& operator=(Deferred&& other) noexcept {
    if (this != &other) {
      abandon();
      run_ = std::exchange(other.run_, nullptr);
      stage_ = other.stage_;
      context_ = std::move(other.context_);
    }
    return *this;
  }
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred() { abandon(); }

  // True until finished (or moved from).
  bool pending() const noexcept { return run_ != nullptr; }

  // The stage's context, valid until this Deferred is destroyed (unlike StageCall::context(),
  // which ends with invoke). REQUIRES: obtained from StageCall::defer, not moved from.
  StageContext& context() const noexcept { return *context_; }

  // Stores output i. REQUIRES: pending(); i < the stage's number of outputs.
  void set_output(std::uint32_t i, Value value);
  // Completes the stage: ok means succeeded, anything else failed. REQUIRES: pending().
  void finish(Status status = {});
  // Completes the stage as failed by an exception (its what() becomes the message).
  void finish(std::exception_ptr error);

 private:
  friend class StageCall;
  Deferred(detail::RunState* run, std::uint32_t stage, std::unique_ptr<StageContext> context)
      : run_(run), stage_(stage), context_(std::move(context)) {}
  void abandon() noexcept;

  detail::RunState* run_ = nullptr;
  std::uint32_t stage_ = 0;
  std::unique_ptr<StageContext> context_;
};

class StageCall {
 public:
  std::uint32_t num_inputs() const noexcept { return num_inputs_; }
  std::uint32_t num_outputs() const noexcept { return num_outputs_; }

  // Input i, produced by an upstream stage; valid until the stage completes.
  // REQUIRES: i < num_inputs().
  const Value& input(std::uint32_t i) const noexcept { return slots_[input_slots_[i]]; }
  // True when this stage is input i's only consumer, so moving it out costs no copy for anyone.
  bool owns_input(std::uint32_t i) const noexcept { return sole_consumer_[input_slots_[i]]; }
  // Input i's payload: moved out when owns_input(i), copied otherwise.
  template <class T>
  T take_input(std::uint32_t i) {
    Value& v = slots_[input_slots_[i]];
    if (owns_input(i)) return v.take<T>();
    return T(v.get<T>());
  }

  // Stores output i. REQUIRES: i < num_outputs(); value's type is the port's type.
  void set_output(std::uint32_t i, Value value) { outputs_[i] = std::move(value); }
  // Output i as set so far (empty until set_output). REQUIRES: i < num_outputs().
  const Value& output(std::uint32_t i) const noexcept { return outputs_[i]; }

  // Marks the (synchronous) stage failed. REQUIRES: !status.ok().
  void fail(Status status) { status_ = std::move(status); }

  // Makes the stage asynchronous: invoke may return before the work is done, and the stage
  // completes when the returned Deferred is finished. Call at most once. After this, invoke must
  // not touch the StageCall's inputs or outputs once the Deferred may have been finished.
  Deferred defer() {
    Deferred deferred{run_, stage_, std::make_unique<StageContext>(context_)};
    deferred_ = true;
    return deferred;
  }

  StageContext& context() noexcept { return context_; }

  // For trainflow's own executor.
  StageCall(detail::RunState* run, std::uint32_t stage, StageContext context, Value* slots,
            const std::uint32_t* input_slots, std::uint32_t num_inputs, Value* outputs,
            std::uint32_t num_outputs, const bool* sole_consumer) noexcept
      : run_(run),
        stage_(stage),
        context_(context),
        slots_(slots),
        input_slots_(input_slots),
        outputs_(outputs),
        sole_consumer_(sole_consumer),
        num_inputs_(num_inputs),
        num_outputs_(num_outputs) {}
  bool deferred() const noexcept { return deferred_; }
  Status& status() noexcept { return status_; }

 private:
  detail::RunState* run_;
  std::uint32_t stage_;
  StageContext context_;
  Value* slots_;
  const std::uint32_t* input_slots_;
  Value* outputs_;
  const bool* sole_consumer_;
  std::uint32_t num_inputs_;
  std::uint32_t num_outputs_;
  bool deferred_ = false;
  Status status_;
};

}  // namespace trainflow
