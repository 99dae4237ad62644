// `pagesim pte decode` / `encode` (src/workloads/pte_format.h): known values from the spec's
// vectors (docs/spec/x86-64-paging.md section 10), the round trip, and agreement with the
// walker on which bits are reserved.
#include "workloads/pte_format.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "cli/cli_harness.h"
#include "mmu/walker.h"
#include "workloads/json.h"

namespace pagesim::wl {
namespace {

using mmu::Level;
using testing::expect_golden;

PteContext ctx(unsigned maxphyaddr = 46, mmu::Support nxe = mmu::Support::kYes,
               mmu::Vendor vendor = mmu::Vendor::kIntel) {
  PteContext c;
  c.maxphyaddr = maxphyaddr;
  c.nxe = nxe;
  c.vendor = vendor;
  c.profile_name = vendor == mmu::Vendor::kAmd ? "amd" : "sdm";
  return c;
}

// --- Decoding known values. ---

TEST(PteDecode, LeafFieldsOfA4KPage) {
  // V01's PTE after the walk: P RW US A, frame 0x1234567000.
  const DecodedEntry d = decode(0x0000001234567027, Level::kPte, ctx());
  EXPECT_EQ(d.form, EntryForm::kPage4K);
  EXPECT_TRUE(d.fields.p && d.fields.rw && d.fields.us && d.fields.a);
  EXPECT_FALSE(d.fields.d || d.fields.pat || d.fields.g || d.fields.xd || d.fields.ps);
  EXPECT_EQ(d.fields.addr, 0x1234567000u);
  EXPECT_EQ(d.reserved_set, 0u);
  EXPECT_EQ(d.first_rule, mmu::ReservedRule::kNone);
}

TEST(PteDecode, LargeLeafPatIsBit12) {
  // V25: a 2 MiB page with PAT (bit 12), PCD and PWT: PAT index 7, bit 12 is not an address bit.
  const DecodedEntry d = decode(0x000000012340109B, Level::kPde, ctx());
  EXPECT_EQ(d.form, EntryForm::kPage2M);
  EXPECT_TRUE(d.fields.ps && d.fields.pat && d.fields.pcd && d.fields.pwt);
  EXPECT_EQ(d.fields.addr, 0x123400000u);
  EXPECT_EQ(d.reserved_set, 0u);
  expect_golden("pte_decode_pde_2m_pat.txt", format_decoded(d));
}

TEST(PteDecode, IgnoredBitsAndKeyOfV13) {
  // V13: ignored bits 11:9 and 62:52 set in a PTE; 62:59 are the key there.
  const DecodedEntry d = decode(0x7FF0001234567E07, Level::kPte, ctx());
  EXPECT_EQ(d.reserved_set, 0u);
  EXPECT_EQ(d.fields.pkey, 15);
  EXPECT_EQ(d.fields.ignored, 0x07F0000000000E00u);
  // The same bits in a PML4E: all of 62:52 ignored, bit 6 ignored, no key.
  const DecodedEntry top = decode(0x7FF0000000002F47, Level::kPml4e, ctx());
  EXPECT_EQ(top.reserved_set, 0u);
  EXPECT_EQ(top.fields.pkey, 0);
  EXPECT_EQ(top.fields.ignored, 0x7FF0000000000F40u);
}

struct ReservedCase {
  const char* name;
  u64 raw;
  Level level;
  unsigned maxphyaddr;
  mmu::Support nxe;
  mmu::Vendor vendor;
  u64 reserved;
  mmu::ReservedRule rule;
};

class PteReserved : public ::testing::TestWithParam<ReservedCase> {};

TEST_P(PteReserved, FlagsTheBitAndTheRule) {
  const ReservedCase& c = GetParam();
  const DecodedEntry d = decode(c.raw, c.level, ctx(c.maxphyaddr, c.nxe, c.vendor));
  EXPECT_EQ(d.reserved_set, c.reserved) << std::hex << c.raw;
  EXPECT_EQ(d.first_rule, c.rule);
  const std::string text = format_decoded(d);
  if (c.reserved) {
    EXPECT_TRUE(testing::contains(text, "RESERVED BIT")) << text;
    EXPECT_TRUE(testing::contains(text, fmt::format("rule {}", reserved_rule_id(c.rule)))) << text;
  } else {
    EXPECT_TRUE(testing::contains(text, "No reserved bit is set.")) << text;
  }
}

constexpr auto kYes = mmu::Support::kYes;
constexpr auto kNo = mmu::Support::kNo;
constexpr auto kIntel = mmu::Vendor::kIntel;
constexpr auto kAmd = mmu::Vendor::kAmd;

INSTANTIATE_TEST_SUITE_P(
    SpecVectors, PteReserved,
    ::testing::Values(
        // V12 / V11: bit 50 is reserved with MAXPHYADDR 46, an address bit with 52 (R2).
        ReservedCase{"v12", 0x0004001234567007, Level::kPte, 46, kYes, kIntel, u64{1} << 50,
                     mmu::ReservedRule::kR2AboveMaxPhyAddr},
        ReservedCase{"v11", 0x0004001234567007, Level::kPte, 52, kYes, kIntel, 0,
                     mmu::ReservedRule::kNone},
        // V19: bit 45 of a non-leaf PDPTE with MAXPHYADDR 40.
        ReservedCase{"v19", 0x0000200000003007, Level::kPdpte, 40, kYes, kIntel, u64{1} << 45,
                     mmu::ReservedRule::kR2AboveMaxPhyAddr},
        // V17: PS in a PML4E (R3); the same value is a fine 2 MiB PDE.
        ReservedCase{"v17", 0x0000000000002083, Level::kPml4e, 46, kYes, kIntel, 0x80,
                     mmu::ReservedRule::kR3PsInTopLevel},
        ReservedCase{"v17-pml5", 0x0000000000002083, Level::kPml5e, 46, kYes, kIntel, 0x80,
                     mmu::ReservedRule::kR3PsInTopLevel},
        // V20: XD while EFER.NXE=0 (R4).
        ReservedCase{"v20", 0x8000000000004007, Level::kPde, 46, kNo, kIntel, u64{1} << 63,
                     mmu::ReservedRule::kR4XdWithoutNxe},
        ReservedCase{"v20-nxe1", 0x8000000000004007, Level::kPde, 46, kYes, kIntel, 0,
                     mmu::ReservedRule::kNone},
        // V22, V23, V24: large-page alignment (R5); bit 12 (PAT) is never reserved.
        ReservedCase{"v22", 0x00000040C0002083, Level::kPdpte, 46, kYes, kIntel, u64{1} << 13,
                     mmu::ReservedRule::kR5LargePageAlignment},
        ReservedCase{"v23", 0x00000040E0000083, Level::kPdpte, 46, kYes, kIntel, u64{1} << 29,
                     mmu::ReservedRule::kR5LargePageAlignment},
        ReservedCase{"v24", 0x0000000123500083, Level::kPde, 46, kYes, kIntel, u64{1} << 20,
                     mmu::ReservedRule::kR5LargePageAlignment},
        ReservedCase{"v25", 0x000000012340109B, Level::kPde, 46, kYes, kIntel, 0,
                     mmu::ReservedRule::kNone},
        // V28: bit 8 of a PML4E, reserved on AMD only (R7).
        ReservedCase{"v28-amd", 0x0000000000002107, Level::kPml4e, 46, kYes, kAmd, 0x100,
                     mmu::ReservedRule::kR7AmdBit8},
        ReservedCase{"v28-intel", 0x0000000000002107, Level::kPml4e, 46, kYes, kIntel, 0,
                     mmu::ReservedRule::kNone}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) {
        if (ch == '-') ch = '_';
      }
      return n;
    });

TEST(PteDecode, NotPresentIsNotChecked) {
  // V15: P=0 with every other bit set: not present, whatever the rest holds (R1).
  const DecodedEntry d = decode(0xFFFFFFFFFFFFFFFE, Level::kPte, ctx());
  EXPECT_FALSE(d.present());
  const std::string text = format_decoded(d);
  EXPECT_TRUE(testing::contains(text, "P=0: not present")) << text;
  EXPECT_TRUE(testing::contains(text, "not checked while P=0 (R1)")) << text;
}

TEST(PteDecode, EveryLevelSummary) {
  expect_golden("pte_decode_every_level.txt", format_every_level(0x0000000123400087, ctx()));
}

TEST(PteDecode, JsonIsValidAndComplete) {
  const std::string j = decoded_json(decode(0x8000001234567067, Level::kPte, ctx()));
  auto v = json::parse(j);
  ASSERT_TRUE(v.ok()) << v.error().message << "\n" << j;
  const json::Value* fields = v.value().find("fields");
  ASSERT_NE(fields, nullptr);
  EXPECT_EQ(fields->find("d")->text(), "1");
  EXPECT_EQ(fields->find("xd")->text(), "1");
  EXPECT_EQ(fields->find("addr")->text(), "0x1234567000");
  // The layout covers all 64 bits exactly once.
  u64 covered = 0;
  for (const json::Value& f : v.value().find("layout")->items()) {
    const u64 lo = *f.find("lo")->as_u64();
    const u64 hi = *f.find("hi")->as_u64();
    for (u64 b = lo; b <= hi; ++b) {
      EXPECT_FALSE((covered >> b) & 1) << "bit " << b << " twice";
      covered |= u64{1} << b;
    }
  }
  EXPECT_EQ(covered, ~u64{0});
}

// --- Encoding known values. ---

TEST(PteEncode, KnownValues) {
  PteFields pte{.level = Level::kPte, .p = true, .rw = true, .us = true, .addr = 0x1234567000};
  EXPECT_EQ(encode(pte, ctx()).value(), 0x0000001234567007u);  // V01's PTE
  PteFields pde{.level = Level::kPde,
                .p = true,
                .rw = true,
                .us = true,
                .pwt = true,
                .pcd = true,
                .ps = true,
                .pat = true,
                .addr = 0x123400000};
  EXPECT_EQ(encode(pde, ctx()).value(), 0x000000012340109Bu | 0x4);  // V25 with U/S
  PteFields gb{.level = Level::kPdpte, .p = true, .rw = true, .ps = true, .addr = 0x40C0000000};
  EXPECT_EQ(encode(gb, ctx()).value(), 0x00000040C0000083u);  // V04's PDPTE
  PteFields keyed{.level = Level::kPte,
                  .p = true,
                  .rw = true,
                  .us = true,
                  .a = true,
                  .d = true,
                  .xd = true,
                  .addr = 0x1234567000,
                  .pkey = 3,
                  .ignored = 0xe00};
  EXPECT_EQ(encode(keyed, ctx()).value(), 0x9800001234567E67u);
  PteFields table{.level = Level::kPml4e, .p = true, .rw = true, .us = true, .addr = 0x2000};
  EXPECT_EQ(encode(table, ctx()).value(), 0x2007u);
}

TEST(PteEncode, RejectsFieldsTheLevelDoesNotHave) {
  auto msg = [](const PteFields& f, unsigned m = 46) {
    auto r = encode(f, ctx(m));
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.error();
  };
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPte, .ps = true}), "PAT, not PS"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPml4e, .ps = true}), "R3"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPde, .d = true}), "--ignored 0x40"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPdpte, .g = true}), "G (global)"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPml5e, .pkey = 2}), "PK1"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPde, .ps = true, .addr = 0x1000}),
                                "not aligned to 0x200000"));
  EXPECT_TRUE(
      testing::contains(msg({.level = Level::kPte, .addr = 0x1001}), "not aligned to 0x1000"));
  EXPECT_TRUE(
      testing::contains(msg({.level = Level::kPte, .addr = u64{1} << 46}), "above MAXPHYADDR 46"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPte, .ignored = 0x40}), "it is D"));
  EXPECT_TRUE(testing::contains(msg({.level = Level::kPte, .pkey = 16}), "0 to 15"));
  // Bit 8 of a PML4E is ignored on Intel but reserved on AMD (R7).
  PteFields top{.level = Level::kPml4e, .ignored = 0x100};
  EXPECT_TRUE(encode(top, ctx()).ok());
  EXPECT_FALSE(encode(top, ctx(46, kYes, kAmd)).ok());
}

// --- The round trip, over random values. ---

// Every bit of `level`'s layout for `raw`'s form that is in a reserved position.
u64 reserved_positions(u64 raw, Level level, const PteContext& c) {
  u64 m = 0;
  for (const BitField& f : entry_layout(level, entry_form(raw, level), c)) {
    if (f.cls == FieldClass::kReserved) m |= f.mask();
  }
  return m;
}

TEST(PteRoundTrip, EncodeOfDecodeGivesTheValueBack) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    const Level level = mmu::level_from_number(1 + static_cast<int>(rng() % 5));
    const unsigned m = 32 + static_cast<unsigned>(rng() % 21);
    const PteContext c = ctx(m, kYes, (rng() & 1) ? kIntel : kAmd);
    u64 v = rng();
    v &= ~reserved_positions(v, level, c);  // the form may change with bit 7 at the top
    v &= ~reserved_positions(v, level, c);
    const PteFields f = fields_of(v, level, c);
    auto back = encode(f, c);
    ASSERT_TRUE(back.ok()) << std::hex << v << " level " << mmu::level_number(level) << ": "
                           << back.error();
    EXPECT_EQ(back.value(), v) << std::hex << v << " level " << mmu::level_number(level);
  }
}

TEST(PteRoundTrip, DecodeOfEncodeGivesTheFieldsBack) {
  std::mt19937_64 rng(777);
  for (int i = 0; i < 20000; ++i) {
    const Level level = mmu::level_from_number(1 + static_cast<int>(rng() % 5));
    const PteContext c = ctx(46);
    PteFields f;
    f.level = level;
    f.p = rng() & 1;
    f.rw = rng() & 1;
    f.us = rng() & 1;
    f.pwt = rng() & 1;
    f.pcd = rng() & 1;
    f.a = rng() & 1;
    f.xd = rng() & 1;
    f.ps = (level == Level::kPde || level == Level::kPdpte) && (rng() & 1);
    EntryForm form = EntryForm::kTable;
    if (level == Level::kPte) form = EntryForm::kPage4K;
    if (f.ps) form = level == Level::kPde ? EntryForm::kPage2M : EntryForm::kPage1G;
    if (form != EntryForm::kTable) {
      f.d = rng() & 1;
      f.g = rng() & 1;
      f.pat = rng() & 1;
      f.pkey = static_cast<u8>(rng() % 16);
    }
    const u64 align = form == EntryForm::kPage2M   ? (u64{1} << 21)
                      : form == EntryForm::kPage1G ? (u64{1} << 30)
                                                   : (u64{1} << 12);
    f.addr = (rng() & ((u64{1} << 46) - 1)) & ~(align - 1);
    f.ignored = rng() & ignored_mask(level, form, c);
    auto v = encode(f, c);
    ASSERT_TRUE(v.ok()) << v.error();
    EXPECT_EQ(fields_of(v.value(), level, c), f) << std::hex << v.value();
    EXPECT_EQ(decode(v.value(), level, c).reserved_set, 0u);
  }
}

// --- What decode calls reserved is what the walker faults on. ---

TEST(PteDecode, AgreesWithTheWalkerOnReservedBits) {
  auto mem = testing::make_mem();
  std::mt19937_64 rng(4242);
  const u64 va = 0x00007D6C987D4567;
  for (int i = 0; i < 3000; ++i) {
    const Level level = mmu::level_from_number(1 + static_cast<int>(rng() % 4));
    const unsigned m = 36 + static_cast<unsigned>(rng() % 17);
    const mmu::Support nxe = (rng() % 4) ? kYes : kNo;
    const mmu::Vendor vendor = (rng() % 4) ? kIntel : kAmd;
    // A present entry with a few random bits on top (bit 7 decides the form at levels 2, 3).
    u64 v = mmu::entry::kP | mmu::entry::kRw | mmu::entry::kUs | 0x5000;
    for (int k = 0; k < 3; ++k) v |= u64{1} << (rng() % 64);
    // Fresh tables: root 0x1000, the tested entry at `level`, zeros below it.
    for (u64 pa = 0x1000; pa < 0x6000; pa += 8) ASSERT_TRUE(mem->store_entry(PAddr(pa), 0).ok());
    testing::HandTables t(*mem, 4, 0x1000, 0x2000);
    t.map(va, v, level);
    mmu::Profile p = vendor == kAmd ? mmu::Profile::amd() : mmu::Profile::sdm();
    p.maxphyaddr = m;
    CpuState s = testing::baseline(4);
    if (nxe == kNo) s.efer &= ~reg::kEferNxe;
    mmu::Walker w(*mem, p);
    w.configure(s);
    mmu::WalkRecord rec;
    (void)w.walk(VAddr(va), mmu::Access::read(0), nullptr, &rec);
    const mmu::LevelRecord* at = nullptr;
    for (u8 k = 0; k < rec.count; ++k) {
      if (rec.levels[k].level == level) at = &rec.levels[k];
    }
    ASSERT_NE(at, nullptr);
    const DecodedEntry d = decode(v, level, PteContext::from(p, nxe));
    EXPECT_EQ(at->decision == mmu::LevelDecision::kReserved, d.reserved_set != 0)
        << std::hex << v << " level " << mmu::level_number(level) << " M " << std::dec << m;
    if (at->decision == mmu::LevelDecision::kReserved) {
      EXPECT_EQ(at->reserved_bits, d.reserved_set) << std::hex << v;
      EXPECT_EQ(at->reserved_rule, d.first_rule) << std::hex << v;
    }
  }
}

}  // namespace
}  // namespace pagesim::wl
