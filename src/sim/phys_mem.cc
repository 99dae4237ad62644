#include "sim/phys_mem.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace pagesim {

std::string MemError::message() const {
  switch (kind) {
    case Kind::kOutOfRange:
      return fmt::format("{} (+{} bytes) is outside simulated RAM", addr, len);
    case Kind::kMisaligned:
      return fmt::format("{} is not aligned to {} bytes", addr, len);
    case Kind::kBadSize:
      return fmt::format("bad access size {} at {}", len, addr);
  }
  return "memory error";
}

Result<std::unique_ptr<PhysMem>, std::string> PhysMem::create(u64 size) {
  if (size == 0 || !is_aligned(size, kFrameSize)) {
    return Err{fmt::format("RAM size {:#x} must be a non-zero multiple of 4 KiB", size)};
  }
  if (size > kMaxSize) {
    return Err{fmt::format("RAM size {:#x} exceeds the x86-64 limit of 4 PiB (2^52 bytes)", size)};
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    return Err{fmt::format("cannot reserve {:#x} bytes of host address space for simulated RAM: {}",
                           size, std::strerror(errno))};
  }
  return std::unique_ptr<PhysMem>(new PhysMem(static_cast<std::byte*>(p), size));
}

PhysMem::~PhysMem() { munmap(base_, size_); }

Result<void, MemError> PhysMem::check(PAddr pa, u64 len, u64 align) const {
  if (!contains(pa, len)) return Err{MemError{MemError::Kind::kOutOfRange, pa, len}};
  if (!pa.is_aligned(align)) return Err{MemError{MemError::Kind::kMisaligned, pa, align}};
  return {};
}

Result<u64, MemError> PhysMem::load_entry(PAddr pa, std::memory_order order) const {
  PAGESIM_TRY(check(pa, 8, 8));
  return std::atomic_ref<u64>(*reinterpret_cast<u64*>(base_ + pa.value())).load(order);
}

Result<void, MemError> PhysMem::store_entry(PAddr pa, u64 value, std::memory_order order) {
  PAGESIM_TRY(check(pa, 8, 8));
  std::atomic_ref<u64>(*reinterpret_cast<u64*>(base_ + pa.value())).store(value, order);
  return {};
}

Result<bool, MemError> PhysMem::cas_entry(PAddr pa, u64& expected, u64 desired) {
  PAGESIM_TRY(check(pa, 8, 8));
  return std::atomic_ref<u64>(*reinterpret_cast<u64*>(base_ + pa.value()))
      .compare_exchange_strong(expected, desired, std::memory_order_acq_rel,
                               std::memory_order_acquire);
}

Result<void, MemError> PhysMem::read(PAddr pa, std::span<std::byte> out) const {
  PAGESIM_TRY(check(pa, out.size(), 1));
  std::memcpy(out.data(), base_ + pa.value(), out.size());
  return {};
}

Result<void, MemError> PhysMem::write(PAddr pa, std::span<const std::byte> in) {
  PAGESIM_TRY(check(pa, in.size(), 1));
  std::memcpy(base_ + pa.value(), in.data(), in.size());
  return {};
}

void PhysMem::zero_frame(Pfn pfn) {
  PAGESIM_ASSERT(contains(pfn.addr(), kFrameSize), "zeroing {} outside RAM", pfn);
  std::memset(base_ + pfn.addr().value(), 0, kFrameSize);
}

void PhysMem::discard(PAddr pa, u64 len) {
  PAGESIM_ASSERT(contains(pa, len) && pa.is_aligned(kFrameSize) && is_aligned(len, kFrameSize),
                 "discard of {} +{:#x}", pa, len);
  madvise(base_ + pa.value(), len, MADV_DONTNEED);
}

}  // namespace pagesim
