// A set-associative store with LRU or tree-PLRU replacement: the storage of every TLB array and
// paging-structure cache (T10, T11).
//
// Keys are 64-bit words whose bit 63 is the valid bit, so a lookup is a plain comparison of key
// words and an invalid way never matches. One instance belongs to one CPU's TLB and is used by
// one thread.
//
// Layout, for speed (a lookup should touch as few host cache lines as possible):
//  - per set, a small metadata block (aligned, a power-of-two size: 16 bytes up to 8 ways, 32 up
//    to 24, 64 up to 56): one hint byte per way, then the set's replacement word;
//  - each way's key and payload side by side (a TLB entry is 32 bytes: two per cache line).
// So a hit reads the set's metadata line and the line of the way that matched, and the LRU
// update writes the metadata line it has just read.
//
// A hint is a one-byte hash of the key's bits 62:13 (it leaves out the low 13 bits, where TLB
// keys keep their PCID/global tag and PSC keys their PCID, so the two keys a lookup tries have
// the same hint); 0 marks an invalid way. A lookup compares the hints of a set eight at a time
// in one 64-bit word and compares full keys only for the ways whose hint matches.
//
// Replacement (both take an invalid way first, the lowest-numbered one):
//  - LRU with at most 16 ways: the replacement word is the set's recency order, one 4-bit way
//    number per rank (rank 0 most recent); touching a way moves it to rank 0, the victim is the
//    way at rank ways-1. This is the exact LRU order: a way only becomes valid by an insertion,
//    which touches it, so the valid ways are ranked by their last use.
//  - LRU with more ways: a last-use clock per way, the victim is the oldest.
//  - tree-PLRU: the replacement word holds the tree's node bits.
//
// Counts of valid keys are kept per key class (key bits 62:61, where TLB keys keep the page
// size), so a TLB lookup can skip a probe for a page size the array holds no entry of.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
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

// The class of a key: bits 62:61 (a TLB key's page size).
constexpr unsigned key_class(u64 key) { return static_cast<unsigned>((key >> 61) & 3); }

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
        repl_(policy == Replacement::kTreePlru ? Repl::kPlru
              : ways <= kMaxStackWays          ? Repl::kStack
                                               : Repl::kStamps),
        hint_words_((ways + 7) / 8),
        meta_stride_(static_cast<u32>(std::bit_ceil(u64{hint_words_} + 1))),
        entries_(u64{sets} * ways),
        stamps_(repl_ == Repl::kStamps ? u64{sets} * ways : 0, 0) {
    PAGESIM_ASSERT(is_pow2(sets) && ways > 0, "bad set-associative shape {}x{}", sets, ways);
    PAGESIM_ASSERT(policy == Replacement::kLru || (is_pow2(ways) && ways <= 64),
                   "tree-PLRU needs a power-of-two number of ways <= 64, not {}", ways);
    // Metadata blocks aligned to their size (up to a cache line), so none straddles two lines.
    const u32 align_words = std::min<u32>(meta_stride_, 8);
    meta_buf_.assign(u64{sets} * meta_stride_ + align_words, 0);
    const auto addr = reinterpret_cast<std::uintptr_t>(meta_buf_.data());
    const u32 misalign = static_cast<u32>(addr / 8 % align_words);
    meta_offset_ = misalign ? align_words - misalign : 0;
    for (u32 s = 0; s < sets; ++s) repl_word(s) = repl_ == Repl::kStack ? kIdentityStack : 0;
  }

  // Copies and moves keep the metadata alignment offset valid (a copied vector may be placed
  // differently, so a copy recomputes it).
  SetAssoc(const SetAssoc& o) : SetAssoc(o.sets_, o.ways_, o.policy_) { copy_state(o); }
  SetAssoc& operator=(const SetAssoc& o) {
    if (this != &o) {
      SetAssoc tmp(o);
      *this = std::move(tmp);
    }
    return *this;
  }
  SetAssoc(SetAssoc&&) noexcept = default;  // a moved vector keeps its buffer
  SetAssoc& operator=(SetAssoc&&) noexcept = default;

  u32 sets() const { return sets_; }
  u32 ways() const { return ways_; }
  u32 set_of(u64 index_bits) const { return static_cast<u32>(index_bits & (sets_ - 1)); }
  u64 valid_count() const { return valid_; }
  // Valid keys of class `cls` (bits 62:61 of the key).
  u64 valid_count_of_class(unsigned cls) const { return valid_by_class_[cls & 3]; }

  // The way of `set` holding key `a` or key `b` (two keys with the same hint), or kNoWay.
  int find(u32 set, u64 a, u64 b) const {
    const u64* h = meta(set);
    const Entry* e = &entries_[u64{set} * ways_];
    const u64 want = u64{hint_of(a)} * 0x0101010101010101ull;
    for (u32 i = 0; i < hint_words_; ++i) {
      const u64 x = h[i] ^ want;
      // The bytes of x that are zero, plus possibly a few false positives above a zero byte
      // (borrows); the full key comparison sorts them out.
      u64 zero = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
      while (zero) {
        const u32 w = i * 8 + static_cast<u32>(std::countr_zero(zero)) / 8;
        if (w < ways_ && (e[w].key == a || e[w].key == b)) return static_cast<int>(w);
        zero &= zero - 1;
      }
    }
    return kNoWay;
  }
  int find(u32 set, u64 a) const { return find(set, a, a); }

  u64 key(u32 set, u32 way) const { return entries_[u64{set} * ways_ + way].key; }
  Payload& payload(u32 set, u32 way) { return entries_[u64{set} * ways_ + way].payload; }
  const Payload& payload(u32 set, u32 way) const {
    return entries_[u64{set} * ways_ + way].payload;
  }

  // Marks a way most recently used.
  void touch(u32 set, u32 way) {
    switch (repl_) {
      case Repl::kStack: {
        u64& order = repl_word(set);
        // The rank of `way`: the lowest 4-bit field equal to it (unused fields above rank
        // ways-1 can only produce matches above the real one).
        const u64 x = order ^ (u64{way} * 0x1111111111111111ull);
        const u64 zero = (x - 0x1111111111111111ull) & ~x & 0x8888888888888888ull;
        const unsigned shift = static_cast<unsigned>(std::countr_zero(zero)) - 3;  // 4 * rank
        const u64 below = (u64{1} << shift) - 1;  // ranks more recent than `way`
        order = (order & ~((below << 4) | 0xf)) | ((order & below) << 4) | way;
        return;
      }
      case Repl::kStamps:
        stamps_[u64{set} * ways_ + way] = ++clock_;
        return;
      case Repl::kPlru: {
        // Nodes 1..ways-1 of a heap-ordered binary tree, bit = 1 means "the victim is in the
        // right half". Touching a way points every node on its path away from it.
        u64& bits = repl_word(set);
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
        return;
      }
    }
  }

  // The way a new entry of `set` goes into: the first invalid way, else the policy's victim.
  u32 victim(u32 set) const {
    if (valid_ < u64{sets_} * ways_) {  // some way somewhere is free: look for one here
      const u64* h = meta(set);
      for (u32 i = 0; i < hint_words_; ++i) {
        // The lowest zero byte is exact (borrows only create false positives above it); a
        // zero padding byte above the last way means this word has no free way.
        const u64 zero = (h[i] - 0x0101010101010101ull) & ~h[i] & 0x8080808080808080ull;
        if (zero) {
          const u32 w = i * 8 + static_cast<u32>(std::countr_zero(zero)) / 8;
          if (w < ways_) return w;
          break;
        }
      }
    }
    switch (repl_) {
      case Repl::kStack:
        return static_cast<u32>(repl_word(set) >> (4 * (ways_ - 1))) & 0xf;
      case Repl::kStamps: {
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
      case Repl::kPlru:
        break;
    }
    const u64 bits = repl_word(set);
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
    Entry& e = entries_[u64{set} * ways_ + w];
    evicted = (e.key & kKeyValid) != 0;
    if (evicted) {
      --valid_by_class_[key_class(e.key)];
    } else {
      ++valid_;
    }
    ++valid_by_class_[key_class(key)];
    e.key = key;
    e.payload = p;
    hint_byte(set, w) = hint_of(key);
    touch(set, w);
    return w;
  }

  void invalidate(u32 set, u32 way) {
    u64& k = entries_[u64{set} * ways_ + way].key;
    if (k & kKeyValid) {
      --valid_;
      --valid_by_class_[key_class(k)];
    }
    k = 0;
    hint_byte(set, way) = 0;
  }

  // Calls f(set, way, key, payload) for every valid entry; drops it when f returns true.
  template <class F>
  u64 drop_if(F&& f) {
    if (valid_ == 0) return 0;
    u64 dropped = 0;
    for (u32 s = 0; s < sets_; ++s) dropped += drop_if_in_set(s, f);
    return dropped;
  }

  // Same, restricted to one set.
  template <class F>
  u64 drop_if_in_set(u32 s, F&& f) {
    u64 dropped = 0;
    for (u32 w = 0; w < ways_; ++w) {
      Entry& e = entries_[u64{s} * ways_ + w];
      if ((e.key & kKeyValid) && f(s, w, e.key, e.payload)) {
        invalidate(s, w);
        ++dropped;
      }
    }
    return dropped;
  }

  u64 clear() {
    const u64 n = valid_;
    if (n == 0) return 0;
    for (Entry& e : entries_) e.key = 0;
    for (u32 s = 0; s < sets_; ++s) std::fill(meta(s), meta(s) + hint_words_, 0);
    valid_ = 0;
    valid_by_class_ = {};
    return n;
  }

 private:
  enum class Repl : u8 { kStack, kStamps, kPlru };
  static constexpr u32 kMaxStackWays = 16;  // 16 ranks of 4 bits in one word
  // Rank r holds way r: any permutation would do (see touch()), this one is easy to check.
  static constexpr u64 kIdentityStack = 0xfedcba9876543210ull;

  struct Fields {
    u64 key;
    Payload payload;
  };
  // A 32-byte entry (a TLB entry) is aligned to 32 bytes, so it never straddles two lines.
  static constexpr std::size_t kEntryAlign =
      std::has_single_bit(sizeof(Fields)) && sizeof(Fields) <= 64 ? sizeof(Fields)
                                                                  : alignof(Fields);
  struct alignas(kEntryAlign) Entry {
    u64 key = 0;
    Payload payload{};
  };

  // 1..255 for a valid key (0 marks an empty way and the padding of a set's hint bytes).
  static u8 hint_of(u64 key) {
    u64 x = (key & ~kKeyValid) >> 13;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    const u8 h = static_cast<u8>(x >> 56);
    return h ? h : 1;
  }

  const u64* meta(u32 set) const {
    return meta_buf_.data() + meta_offset_ + u64{set} * meta_stride_;
  }
  u64* meta(u32 set) { return meta_buf_.data() + meta_offset_ + u64{set} * meta_stride_; }
  u64& repl_word(u32 set) { return meta(set)[hint_words_]; }
  u64 repl_word(u32 set) const { return meta(set)[hint_words_]; }
  // The hint of `way`: byte way%8 of hint word way/8 (a u8 may alias any object).
  u8& hint_byte(u32 set, u32 way) { return reinterpret_cast<u8*>(meta(set) + way / 8)[way % 8]; }

  void copy_state(const SetAssoc& o) {
    for (u32 s = 0; s < sets_; ++s) std::copy(o.meta(s), o.meta(s) + meta_stride_, meta(s));
    entries_ = o.entries_;
    stamps_ = o.stamps_;
    clock_ = o.clock_;
    valid_ = o.valid_;
    valid_by_class_ = o.valid_by_class_;
  }

  u32 sets_;
  u32 ways_;
  Replacement policy_;
  Repl repl_;
  u32 hint_words_;   // ways rounded up to a multiple of 8, in 64-bit words
  u32 meta_stride_;  // words per set: hint words + the replacement word, rounded to a power of 2
  u32 meta_offset_ = 0;
  std::vector<u64> meta_buf_;
  std::vector<Entry> entries_;
  std::vector<u64> stamps_;  // LRU with more than 16 ways: last-use clock per way
  u64 clock_ = 0;
  u64 valid_ = 0;
  std::array<u64, 4> valid_by_class_{};
};

}  // namespace pagesim::mmu
