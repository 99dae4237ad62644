// Errors as values at API boundaries (STYLE.md lesson 7).
//
// g++ 12 has no std::expected in C++20 mode, so this is a small stand-in: a Result<T, E> holds
// either a value or an error, and must be looked at ([[nodiscard]]). PAGESIM_TRY propagates an
// error to the caller, like Rust's `?` and SerenityOS's TRY.
#pragma once

#include <utility>
#include <variant>

#include "sim/assert.h"

namespace pagesim {

template <class E>
struct Err {
  // A constructor rather than aggregate initialisation, so both Err{e} and Err(e) work with
  // every compiler (clang 14 lacks C++20's parenthesised aggregate initialisation).
  Err(E e) : error(std::move(e)) {}  // NOLINT: implicit by design
  E error;
};
template <class E>
Err(E) -> Err<E>;

template <class T, class E>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT: implicit by design
  Result(Err<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT
  // clang-format off
  template <class U>
    requires(!std::is_same_v<U, E> && std::is_convertible_v<U, E>)
  Result(Err<U> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT
  // clang-format on

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    PAGESIM_ASSERT(ok(), "value() of an error Result");
    return std::get<0>(v_);
  }
  const T& value() const& {
    PAGESIM_ASSERT(ok(), "value() of an error Result");
    return std::get<0>(v_);
  }
  T&& value() && {
    PAGESIM_ASSERT(ok(), "value() of an error Result");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    PAGESIM_ASSERT(!ok(), "error() of an ok Result");
    return std::get<1>(v_);
  }
  E&& take_error() && {
    PAGESIM_ASSERT(!ok(), "error() of an ok Result");
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  Result() = default;
  Result(Err<E> e) : e_(std::move(e.error)), has_error_(true) {}  // NOLINT
  // clang-format off
  template <class U>
    requires(!std::is_same_v<U, E> && std::is_convertible_v<U, E>)
  Result(Err<U> e) : e_(E(std::move(e.error))), has_error_(true) {}  // NOLINT
  // clang-format on

  bool ok() const { return !has_error_; }
  explicit operator bool() const { return ok(); }
  void value() const { PAGESIM_ASSERT(ok(), "value() of an error Result"); }
  const E& error() const {
    PAGESIM_ASSERT(!ok(), "error() of an ok Result");
    return e_;
  }
  E&& take_error() && {
    PAGESIM_ASSERT(!ok(), "error() of an ok Result");
    return std::move(e_);
  }

 private:
  E e_{};
  bool has_error_ = false;
};

}  // namespace pagesim

// Evaluates a Result-valued expression; on error returns the error from the enclosing function,
// otherwise yields the value (a GNU statement expression, supported by g++ and clang).
#define PAGESIM_TRY(expr)                                            \
  ({                                                                 \
    auto&& pagesim_try_r_ = (expr);                                  \
    if (!pagesim_try_r_.ok()) [[unlikely]]                           \
      return ::pagesim::Err{std::move(pagesim_try_r_).take_error()}; \
    std::move(pagesim_try_r_).value();                               \
  })
