#include "sim/phys_mem.h"

#include <gtest/gtest.h>

#include <array>

namespace pagesim {
namespace {

TEST(PhysMem, RejectsBadSizes) {
  EXPECT_FALSE(PhysMem::create(0).ok());
  EXPECT_FALSE(PhysMem::create(4097).ok());
  EXPECT_FALSE(PhysMem::create(PhysMem::kMaxSize + kFrameSize).ok());
  auto r = PhysMem::create(12345);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("multiple of 4 KiB"), std::string::npos);
}

TEST(PhysMem, EntryLoadStoreCas) {
  auto mem = std::move(PhysMem::create(16 * MiB).value());
  EXPECT_EQ(mem->size(), 16 * MiB);
  EXPECT_EQ(mem->nr_frames(), 4096u);
  ASSERT_TRUE(mem->store_entry(PAddr(0x1000), 0xdeadbeefcafef00dull).ok());
  EXPECT_EQ(mem->load_entry(PAddr(0x1000)).value(), 0xdeadbeefcafef00dull);
  u64 expected = 1;
  auto cas = mem->cas_entry(PAddr(0x1000), expected, 2);
  ASSERT_TRUE(cas.ok());
  EXPECT_FALSE(cas.value());
  EXPECT_EQ(expected, 0xdeadbeefcafef00dull);
  cas = mem->cas_entry(PAddr(0x1000), expected, 2);
  ASSERT_TRUE(cas.ok());
  EXPECT_TRUE(cas.value());
  EXPECT_EQ(mem->load_entry(PAddr(0x1000)).value(), 2u);
}

TEST(PhysMem, OutOfRangeAndMisalignedAreErrors) {
  auto mem = std::move(PhysMem::create(1 * MiB).value());
  auto r = mem->load_entry(PAddr(1 * MiB));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, MemError::Kind::kOutOfRange);
  EXPECT_NE(r.error().message().find("outside simulated RAM"), std::string::npos);
  EXPECT_FALSE(mem->load_entry(PAddr(1 * MiB - 4)).ok());  // straddles the end
  EXPECT_FALSE(mem->load_entry(PAddr(~u64{0} - 3)).ok());  // would overflow
  auto m = mem->store_entry(PAddr(0x1004), 1);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, MemError::Kind::kMisaligned);
  u64 e = 0;
  EXPECT_FALSE(mem->cas_entry(PAddr(2 * MiB), e, 1).ok());
  std::array<std::byte, 16> buf{};
  EXPECT_FALSE(mem->read(PAddr(1 * MiB - 8), buf).ok());
  EXPECT_TRUE(mem->read(PAddr(1 * MiB - 16), buf).ok());
  EXPECT_FALSE(mem->write(PAddr(~u64{0}), buf).ok());
}

TEST(PhysMem, ByteAccessRoundTrips) {
  auto mem = std::move(PhysMem::create(1 * MiB).value());
  std::array<std::byte, 5> in{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  ASSERT_TRUE(mem->write(PAddr(0x2003), in).ok());
  std::array<std::byte, 5> out{};
  ASSERT_TRUE(mem->read(PAddr(0x2003), out).ok());
  EXPECT_EQ(in, out);
  mem->zero_frame(Pfn(2));
  ASSERT_TRUE(mem->read(PAddr(0x2003), out).ok());
  EXPECT_EQ(out[0], std::byte{0});
}

TEST(PhysMem, TerabyteMachineCostsOnlyTouchedFrames) {
  auto r = PhysMem::create(1 * TiB);
  ASSERT_TRUE(r.ok()) << r.error();
  auto& mem = *r.value();
  // Touch a few frames spread over the whole terabyte.
  for (u64 pa = 0; pa < 1 * TiB; pa += 64 * GiB) {
    ASSERT_TRUE(mem.store_entry(PAddr(pa + 8), pa).ok());
  }
  for (u64 pa = 0; pa < 1 * TiB; pa += 64 * GiB) {
    EXPECT_EQ(mem.load_entry(PAddr(pa + 8)).value(), pa);
  }
  EXPECT_EQ(mem.load_entry(PAddr(1 * TiB - 8)).value(), 0u);
  EXPECT_FALSE(mem.load_entry(PAddr(1 * TiB)).ok());
}

}  // namespace
}  // namespace pagesim
