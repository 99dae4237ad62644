// An open-addressing hash map from u64 keys to small values, for the reference model's hot
// lookups (std::unordered_map allocates a node per entry and chases a pointer per lookup).
// Linear probing with backward-shift deletion: no tombstones, so long-lived maps with many
// erases stay fast. Keys must not be ~0 (the empty marker).
#pragma once

#include <utility>
#include <vector>

#include "sim/assert.h"
#include "sim/types.h"

namespace pagesim::wl {

template <class V>
class FlatMap {
 public:
  static constexpr u64 kEmpty = ~u64{0};

  FlatMap() { rehash(16); }

  V* find(u64 key) {
    for (u64 i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  const V* find(u64 key) const { return const_cast<FlatMap*>(this)->find(key); }

  // Inserts or overwrites.
  V& put(u64 key, V v) {
    PAGESIM_ASSERT(key != kEmpty, "reserved key");
    if ((size_ + 1) * 4 > (mask_ + 1) * 3) rehash((mask_ + 1) * 2);
    for (u64 i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return vals_[i] = std::move(v);
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        ++size_;
        return vals_[i] = std::move(v);
      }
    }
  }

  bool erase(u64 key) {
    u64 i = slot(key);
    for (;; i = (i + 1) & mask_) {
      if (keys_[i] == kEmpty) return false;
      if (keys_[i] == key) break;
    }
    // Backward-shift the following cluster so probes never cross a hole.
    for (u64 j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (keys_[j] == kEmpty) break;
      const u64 home = slot(keys_[j]);
      // Move j into i if j's home is not in the cyclic range (i, j].
      const bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!in_range) {
        keys_[i] = keys_[j];
        vals_[i] = std::move(vals_[j]);
        i = j;
      }
    }
    keys_[i] = kEmpty;
    vals_[i] = V{};
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  void clear() {
    keys_.assign(keys_.size(), kEmpty);
    vals_.assign(vals_.size(), V{});
    size_ = 0;
  }

  template <class F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] != kEmpty) f(keys_[i], vals_[i]);
    }
  }

 private:
  u64 slot(u64 key) const {
    u64 h = key * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 29)) & mask_;
  }
  void rehash(u64 cap) {
    std::vector<u64> keys(cap, kEmpty);
    std::vector<V> vals(cap);
    std::swap(keys, keys_);
    std::swap(vals, vals_);
    mask_ = cap - 1;
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != kEmpty) put(keys[i], std::move(vals[i]));
    }
  }

  std::vector<u64> keys_;
  std::vector<V> vals_;
  u64 mask_ = 0;
  size_t size_ = 0;
};

}  // namespace pagesim::wl
