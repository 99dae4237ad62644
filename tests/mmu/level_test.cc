// Linear addresses and walk geometry: spec sections 1 and 2.2 (L1, L2, L6, W2, W5).
#include "mmu/level.h"

#include <gtest/gtest.h>

#include "mmu/entry_bits.h"

namespace pagesim::mmu {
namespace {

constexpr VAddr kVaU(0x00007D6C987D4567);
constexpr VAddr kVaK(0xFFFFF8A96782EABC);
constexpr VAddr kVaU57(0x00AB7D6C987D4567);
constexpr VAddr kVaK57(0xFFA0F8A96782EABC);

TEST(Canonical, FourLevelBits63To47MustBeEqual) {  // L1
  EXPECT_TRUE(is_canonical(VAddr(0x00007FFFFFFFFFFF), 4));
  EXPECT_FALSE(is_canonical(VAddr(0x0000800000000000), 4));
  EXPECT_TRUE(is_canonical(VAddr(0xFFFF800000000000), 4));
  EXPECT_FALSE(is_canonical(VAddr(0xFFFF7FFFFFFFFFFF), 4));
  EXPECT_FALSE(is_canonical(VAddr(0x8000000000000000), 4));
  EXPECT_TRUE(is_canonical(kVaU, 4));
  EXPECT_TRUE(is_canonical(kVaK, 4));
}

TEST(Canonical, FiveLevelBits63To56MustBeEqual) {  // L2
  EXPECT_TRUE(is_canonical(kVaU57, 5));
  EXPECT_FALSE(is_canonical(kVaU57, 4));  // the converse of L2's inclusion is false
  EXPECT_TRUE(is_canonical(kVaK57, 5));
  EXPECT_FALSE(is_canonical(kVaK57, 4));
  EXPECT_FALSE(is_canonical(VAddr(0x0100000000000000), 5));
  EXPECT_TRUE(is_canonical(VAddr(0xFF00000000000000), 5));
  EXPECT_TRUE(is_canonical(VAddr(0x00FFFFFFFFFFFFFF), 5));
  // L2: every 4-level canonical address is 5-level canonical.
  for (u64 v : {u64{0}, u64{0x00007FFFFFFFF000}, u64{0xFFFF800000000000}, ~u64{0}}) {
    EXPECT_TRUE(is_canonical(VAddr(v), 4));
    EXPECT_TRUE(is_canonical(VAddr(v), 5));
  }
}

TEST(Canonical, CompatibilityModeAddressesAreCanonical) {  // L6
  for (u64 v : {u64{0}, u64{0x7FFFFFFF}, u64{0x80000000}, u64{0xFFFFFFFF}}) {
    EXPECT_TRUE(is_canonical(VAddr(v), 4));
    EXPECT_TRUE(is_canonical(VAddr(v), 5));
  }
}

TEST(Geometry, IndexesOfTheSpecAddresses) {  // W2, section 10's address table
  EXPECT_EQ(level_index(kVaU, Level::kPml4e), 0x0FAu);
  EXPECT_EQ(level_index(kVaU, Level::kPdpte), 0x1B2u);
  EXPECT_EQ(level_index(kVaU, Level::kPde), 0x0C3u);
  EXPECT_EQ(level_index(kVaU, Level::kPte), 0x1D4u);
  EXPECT_EQ(level_index(kVaK, Level::kPml4e), 0x1F1u);
  EXPECT_EQ(level_index(kVaK, Level::kPdpte), 0x0A5u);
  EXPECT_EQ(level_index(kVaK, Level::kPde), 0x13Cu);
  EXPECT_EQ(level_index(kVaK, Level::kPte), 0x02Eu);
  EXPECT_EQ(level_index(kVaU57, Level::kPml5e), 0x0ABu);
  EXPECT_EQ(level_index(kVaK57, Level::kPml5e), 0x1A0u);
}

TEST(Geometry, PageSizesAndLeafLevels) {  // W5, W7
  EXPECT_EQ(page_bytes(PageSize::k4K), 4 * KiB);
  EXPECT_EQ(page_bytes(PageSize::k2M), 2 * MiB);
  EXPECT_EQ(page_bytes(PageSize::k1G), 1 * GiB);
  EXPECT_EQ(leaf_level(PageSize::k4K), Level::kPte);
  EXPECT_EQ(leaf_level(PageSize::k2M), Level::kPde);
  EXPECT_EQ(leaf_level(PageSize::k1G), Level::kPdpte);
  EXPECT_EQ(page_size_of_leaf(Level::kPdpte), PageSize::k1G);
  EXPECT_EQ(level_shift(Level::kPml5e), 48u);
  EXPECT_EQ(level_name(Level::kPdpte), "PDPTE");
}

TEST(EntryBits, MasksFollowMaxPhyAddr) {  // M2, M3, R5, W5, MT1, MT3
  EXPECT_EQ(entry::address_mask(46), 0x00003FFFFFFFF000ull);
  EXPECT_EQ(entry::address_mask(52), 0x000FFFFFFFFFF000ull);
  EXPECT_EQ(entry::above_maxphyaddr_mask(40), 0x000FFF0000000000ull);
  EXPECT_EQ(entry::above_maxphyaddr_mask(52), 0u);
  EXPECT_EQ(entry::large_leaf_alignment_mask(PageSize::k2M), 0x1FE000ull);
  EXPECT_EQ(entry::large_leaf_alignment_mask(PageSize::k1G), 0x3FFFE000ull);
  EXPECT_EQ(entry::large_leaf_alignment_mask(PageSize::k4K), 0u);
  EXPECT_EQ(entry::leaf_frame(0x000000012340109Bull, PageSize::k2M, 46), 0x123400000ull);
  EXPECT_EQ(entry::leaf_pat_index(0x000000012340109Bull, PageSize::k2M), 7u);  // V25
  EXPECT_EQ(entry::leaf_pat_index(0x90, PageSize::k4K), 6u);  // PTE bit 7 is PAT, PCD
  EXPECT_EQ(entry::table_pat_index(entry::kPwt | entry::kPcd), 3u);
  EXPECT_EQ(entry::pkey(0x1800001234567007ull), 3u);
}

TEST(EntryBits, BitNamesDependOnLevelAndRole) {  // E1-E5
  EXPECT_EQ(entry::bit_name(6, Level::kPte, EntryRole::kLeaf, 46), "D (dirty)");
  EXPECT_EQ(entry::bit_name(6, Level::kPde, EntryRole::kNonLeaf, 46),
            "ignored (bit 6 of a non-leaf entry)");
  EXPECT_EQ(entry::bit_name(7, Level::kPte, EntryRole::kLeaf, 46), "PAT (PTE)");
  EXPECT_EQ(entry::bit_name(7, Level::kPml4e, EntryRole::kNonLeaf, 46),
            "PS (reserved in a PML5E/PML4E, R3)");
  EXPECT_EQ(entry::bit_name(12, Level::kPde, EntryRole::kLeaf, 46), "PAT (large leaf)");
  EXPECT_NE(entry::bit_name(45, Level::kPte, EntryRole::kLeaf, 40).find("MAXPHYADDR=40"),
            std::string::npos);
  EXPECT_NE(entry::bit_name(15, Level::kPde, EntryRole::kLeaf, 46).find("R5"), std::string::npos);
  EXPECT_EQ(entry::bit_name(63, Level::kPte, EntryRole::kUnknown, 46), "XD (execute-disable)");
}

}  // namespace
}  // namespace pagesim::mmu
