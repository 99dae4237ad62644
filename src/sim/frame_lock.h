// The lock stored in a frame's metadata (used for page-table nodes, as in Asterinas, where the
// node lock lives in the per-frame metadata slot).
//
// A three-state futex mutex (0 free, 1 locked, 2 locked with waiters) on a 32-bit atomic, using
// C++20 atomic wait/notify so a waiter sleeps in the kernel instead of burning one of the
// machine's two cores. Uncontended lock and unlock are one atomic RMW each. Acquire on lock and
// release on unlock order everything done under the lock, which is what the page-table lock
// protocol relies on.
#pragma once

#include <atomic>

#include "sim/types.h"

namespace pagesim {

class FrameLock {
 public:
  void lock() {
    u32 c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed))
        [[likely]] {
      return;
    }
    lock_slow(c);
  }

  bool try_lock() {
    u32 c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() {
    if (state_.fetch_sub(1, std::memory_order_release) != 1) [[unlikely]] {
      state_.store(0, std::memory_order_release);
      state_.notify_one();
    }
  }

  bool is_locked() const { return state_.load(std::memory_order_relaxed) != 0; }

 private:
  void lock_slow(u32 c) {
    // Spin briefly: page-table critical sections are short.
    for (int i = 0; i < 64; ++i) {
      if (c == 0 && state_.compare_exchange_weak(c, 1, std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
        return;
      }
      __builtin_ia32_pause();
      c = state_.load(std::memory_order_relaxed);
    }
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      state_.wait(2, std::memory_order_relaxed);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }

  std::atomic<u32> state_{0};
};

}  // namespace pagesim
