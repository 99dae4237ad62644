// A set-associative store with LRU or tree-PLRU replacement: the storage of every TLB array and
// paging-structure cache (T10, T11).
//
// Keys are 64-bit words whose bit 63 is the valid bit, so a lookup is a plain comparison of the
// key words of one set (kept contiguous for speed) and an invalid way never matches. Payloads
// live in a parallel array. One instance belongs to one CPU's TLB and is used by one thread.
//
// Speed: each way also has a one-byte hint, a hash of its key's bits 62:13 (which leaves out
// the low 13 bits, where TLB keys keep their PCID/global tag and PSC keys their PCID, so the two
// keys a lookup tries have the same hint). A lookup compares the hints of a set eight at a time
// in one 64-bit word and compares full keys only for the ways whose hint matches.
#pragma once

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "sim/assert.h"
#include "sim/types.h"

namespace pagesim::mmu {

enum class Replacement : u8 { kLru, kTreePlru };

constexpr std::string_view replacement_name(Replacement r) {
  return r == Replacement::kLru ? "lru" : "plru";
}

inline constexpr u64 kKeyValid = u64{1} << 63;

template <class Payload>
class SetAssoc {
 public:
  static constexpr int kNoWay = -1;

  // `sets` must be a power of two; tree-PLRU needs `ways` a power of two of at most 64 (the
  // shape is validated before a store is built).
  SetAssoc(u32 sets, u32 ways, Replacement policy)
      : sets_(sets),
        ways_(ways),
        policy_(policy),
        hint_stride_((ways + 7) / 8 * 8),
        keys_(u64{sets} * ways, 0),
        hints_(u64{sets} * ((ways + 7) / 8 * 8), 0),
        payloads_(u64{sets} * ways),
        stamps_(policy == Replacement::kLru ? u64{sets} * ways : 0, 0),
        plru_(policy == Replacement::kTreePlru ? sets : 0, 0) {
    PAGESIM_ASSERT(is_pow2(sets) && ways > 0, "bad set-associative shape {}x{}", sets, ways);
    PAGESIM_ASSERT(policy == Replacement::kLru || (is_pow2(ways) && ways <= 64),
                   "tree-PLRU needs a power-of-two number of ways <= 64, not {}", ways);
  }

  u32 sets() const { return sets_; }
  u32 ways() const { return ways_; }
  u32 set_of(u64 index_bits) const { return static_cast<u32>(index_bits & (sets_ - 1)); }
  u64 valid_count() const { return valid_; }

  // The way of `set` holding key `a` or key `b` (two keys with the same hint), or kNoWay.
  int find(u32 set, u64 a, u64 b) const {
    const u64* k = &keys_[u64{set} * ways_];
    const u8* h = &hints_[u64{set} * hint_stride_];
    const u64 want = hint_of(a) * 0x0101010101010101ull;
    for (u32 base = 0; base < ways_; base += 8) {
      u64 word;
      std::memcpy(&word, h + base, 8);
      const u64 x = word ^ want;
      // The bytes of x that are zero, plus possibly a few false positives above a zero byte
      // (borrows); the full key comparison sorts them out.
      u64 zero = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
      while (zero) {
        const u32 w = base + static_cast<u32>(__builtin_ctzll(zero)) / 8;
        if (w < ways_ && (k[w] == a || k[w] == b)) return static_cast<int>(w);
        zero &= zero - 1;
      }
    }
    return kNoWay;
  }
  int find(u32 set, u64 a) const { return find(set, a, a); }

  u64 key(u32 set, u32 way) const { return keys_[u64{set} * ways_ + way]; }
  Payload& payload(u32 set, u32 way) { return payloads_[u64{set} * ways_ + way]; }
  const Payload& payload(u32 set, u32 way) const { return payloads_[u64{set} * ways_ + way]; }

  // Marks a way most recently used.
  void touch(u32 set, u32 way) {
    if (policy_ == Replacement::kLru) {
      stamps_[u64{set} * ways_ + way] = ++clock_;
      return;
    }
    // Tree-PLRU: nodes 1..ways-1 of a heap-ordered binary tree, bit = 1 means "the victim is in
    // the right half". Touching a way points every node on its path away from it.
    u64& bits = plru_[set];
    u32 node = 1, lo = 0, hi = ways_;
    while (hi - lo > 1) {
      const u32 mid = (lo + hi) / 2;
      if (way < mid) {
        bits |= u64{1} << node;  // victim side: right
        node = 2 * node;
        hi = mid;
      } else {
        bits &= ~(u64{1} << node);  // victim side: left
        node = 2 * node + 1;
        lo = mid;
      }
    }
  }

  // The way a new entry of `set` goes into: the first invalid way, else the policy's victim.
  u32 victim(u32 set) const {
    const u64* k = &keys_[u64{set} * ways_];
    if (valid_ < u64{sets_} * ways_) {  // some way somewhere is free: look for one here
      for (u32 w = 0; w < ways_; ++w) {
        if (!(k[w] & kKeyValid)) return w;
      }
    }
    if (policy_ == Replacement::kLru) {
      // Branch-free minimum: which way is oldest is random, so a branch would mispredict.
      const u64* s = &stamps_[u64{set} * ways_];
      u32 best = 0;
      u64 oldest = s[0];
      for (u32 w = 1; w < ways_; ++w) {
        const bool older = s[w] < oldest;
        best = older ? w : best;
        oldest = older ? s[w] : oldest;
      }
      return best;
    }
    const u64 bits = plru_[set];
    u32 node = 1, lo = 0, hi = ways_;
    while (hi - lo > 1) {
      const u32 mid = (lo + hi) / 2;
      if (bits & (u64{1} << node)) {
        node = 2 * node + 1;
        lo = mid;
      } else {
        node = 2 * node;
        hi = mid;
      }
    }
    return lo;
  }

  // Inserts `key` (which must have kKeyValid) into `set`, evicting the victim if the set is
  // full. Returns the way used; `evicted` tells whether a valid entry was replaced.
  u32 insert(u32 set, u64 key, const Payload& p, bool& evicted) {
    const u32 w = victim(set);
    u64& k = keys_[u64{set} * ways_ + w];
    evicted = (k & kKeyValid) != 0;
    if (!evicted) ++valid_;
    k = key;
    hints_[u64{set} * hint_stride_ + w] = hint_of(key);
    payloads_[u64{set} * ways_ + w] = p;
    touch(set, w);
    return w;
  }

  void invalidate(u32 set, u32 way) {
    u64& k = keys_[u64{set} * ways_ + way];
    if (k & kKeyValid) --valid_;
    k = 0;
    hints_[u64{set} * hint_stride_ + way] = 0;
  }

  // Calls f(set, way, key, payload) for every valid entry; drops it when f returns true.
  template <class F>
  u64 drop_if(F&& f) {
    if (valid_ == 0) return 0;
    u64 dropped = 0;
    for (u32 s = 0; s < sets_; ++s) {
      for (u32 w = 0; w < ways_; ++w) {
        const u64 k = keys_[u64{s} * ways_ + w];
        if ((k & kKeyValid) && f(s, w, k, payloads_[u64{s} * ways_ + w])) {
          invalidate(s, w);
          ++dropped;
        }
      }
    }
    return dropped;
  }

  // Same, restricted to one set.
  template <class F>
  u64 drop_if_in_set(u32 s, F&& f) {
    u64 dropped = 0;
    for (u32 w = 0; w < ways_; ++w) {
      const u64 k = keys_[u64{s} * ways_ + w];
      if ((k & kKeyValid) && f(s, w, k, payloads_[u64{s} * ways_ + w])) {
        invalidate(s, w);
        ++dropped;
      }
    }
    return dropped;
  }

  u64 clear() {
    const u64 n = valid_;
    std::fill(keys_.begin(), keys_.end(), 0);
    std::fill(hints_.begin(), hints_.end(), 0);
    valid_ = 0;
    return n;
  }

 private:
  // 1..255 for a valid key (0 marks an empty way and the padding of a set's hint bytes).
  static u8 hint_of(u64 key) {
    u64 x = (key & ~kKeyValid) >> 13;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    const u8 h = static_cast<u8>(x >> 56);
    return h ? h : 1;
  }

  u32 sets_;
  u32 ways_;
  Replacement policy_;
  u32 hint_stride_;  // ways rounded up to a multiple of 8
  std::vector<u64> keys_;
  std::vector<u8> hints_;
  std::vector<Payload> payloads_;
  std::vector<u64> stamps_;  // LRU: last-use clock per way
  std::vector<u64> plru_;    // tree-PLRU: node bits per set
  u64 clock_ = 0;
  u64 valid_ = 0;
};

}  // namespace pagesim::mmu
