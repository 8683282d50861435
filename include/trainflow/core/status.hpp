// Status and Result<T>: how trainflow reports expected failures without throwing.
//
// A Status is either ok or an error code with a message that says what went wrong, where, and how
// to fix it. A Result<T> holds either a T or an error Status; its members are named like
// std::expected's (has_value, value, error, *, ->). Both are [[nodiscard]]: ignoring one is a bug.
//
//   trainflow::Result<int> parse_port(std::string_view text);
//   auto port = parse_port("80x");
//   if (!port) std::cerr << port.error().message();   // "not a number: '80x'"
//
// Status and Result are values: copyable, movable, not synchronised (like std::string).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace trainflow {

// What kind of failure a Status reports. Callers branch on the code; people read the message.
enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed (a bad parameter, a bad file)
  kFailedPrecondition,  // the operation does not apply in the current state (e.g. an invalid graph)
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a named thing exists already
  kCancelled,           // the work was cancelled before it finished
  kDeadlineExceeded,    // the work ran out of time
  kResourceExhausted,   // memory, disk or another budget ran out
  kUnavailable,         // a transient failure: retrying may succeed
  kInternal,            // a broken invariant inside trainflow: a bug
  kUnknown,             // an error from user code with no better classification (e.g. an exception)
  kDataLoss,            // stored data is corrupt or unreadable (e.g. a digest mismatch)
};

// The lower_snake_case name of a code ("invalid_argument").
std::string_view to_string(StatusCode code) noexcept;

class [[nodiscard]] Status {
 public:
  // An ok status.
  Status() noexcept = default;
  // An error. REQUIRES: code != StatusCode::kOk.
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != StatusCode::kOk && "an error Status needs an error code");
  }

  bool ok() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  // Empty when ok.
  const std::string& message() const noexcept { return message_; }

  // "invalid_argument: <message>", or "ok".
  std::string to_string() const;

  friend bool operator==(const Status& a, const Status& b) noexcept {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() noexcept {
  return Status{};
}
inline Status invalid_argument(std::string message) {
  return {StatusCode::kInvalidArgument, std::move(message)};
}
inline Status failed_precondition(std::string message) {
  return {StatusCode::kFailedPrecondition, std::move(message)};
}
inline Status not_found(std::string message) {
  return {StatusCode::kNotFound, std::move(message)};
}
inline Status already_exists(std::string message) {
  return {StatusCode::kAlreadyExists, std::move(message)};
}
inline Status cancelled(std::string message) {
  return {StatusCode::kCancelled, std::move(message)};
}
inline Status internal_error(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}
inline Status unknown_error(std::string message) {
  return {StatusCode::kUnknown, std::move(message)};
}
inline Status data_loss(std::string message) {
  return {StatusCode::kDataLoss, std::move(message)};
}

// Either a T or an error Status. REQUIRES: T is not a Status and not a reference.
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported; use Result<T*>");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Status>, "Result<Status> is ambiguous");

 public:
  using value_type = T;

  // A value.
  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::remove_cvref_t<U>, Result>)&&(
      !std::is_same_v<std::remove_cvref_t<U>, Status>)Result(U&& value)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  // An error. REQUIRES: !status.ok().
  Result(Status status) : state_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(state_).ok() && "a Result needs a value or an error Status");
  }

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  // REQUIRES: has_value().
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T&& operator*() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }

  // The error, or an ok Status when has_value().
  const Status& error() const& {
    static const Status kOk;
    return has_value() ? kOk : std::get<1>(state_);
  }
  Status error() && { return has_value() ? Status{} : std::move(std::get<1>(state_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(state_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  T& checked() {
    assert(has_value() && "Result::value() called on an error");
    return std::get<0>(state_);
  }

  std::variant<T, Status> state_;
};

namespace detail {
template <class T>
struct IsResult : std::false_type {};
template <class T>
struct IsResult<Result<T>> : std::true_type {};
}  // namespace detail

// True for Result<T> (any T).
template <class T>
inline constexpr bool is_result_v = detail::IsResult<std::remove_cvref_t<T>>::value;

}  // namespace trainflow
