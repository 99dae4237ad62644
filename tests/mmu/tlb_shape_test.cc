// TLB shapes: presets and the config-file format (docs/mmu.md).
#include "mmu/tlb_shape.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "mmu/tlb.h"

namespace pagesim::mmu {
namespace {

TEST(TlbShape, PresetsAreValidAndBuild) {
  for (std::string_view name : TlbShape::preset_names()) {
    auto s = TlbShape::named(name);
    ASSERT_TRUE(s.ok()) << name;
    EXPECT_TRUE(s.value().validate().ok()) << name;
    EXPECT_FALSE(s.value().source.empty()) << name;
    Tlb tlb(s.value());
    EXPECT_EQ(tlb.valid_entries(), 0u);
  }
  const TlbShape intel = TlbShape::intel_golden_cove();
  u32 entries = 0;
  for (const auto& a : intel.arrays) entries += a.entries();
  EXPECT_EQ(entries, 256u + 32 + 96 + 32 + 8 + 2048 + 1024);
  EXPECT_EQ(intel.psc.size(), 4u);
  const TlbShape teach = TlbShape::teaching();
  for (const auto& a : teach.arrays) EXPECT_EQ(a.sets, 1u) << "fully associative";
  EXPECT_FALSE(TlbShape::named("pentium").ok());
}

TEST(TlbShape, ConfigFileRoundTrip) {
  for (const TlbShape& s :
       {TlbShape::intel_golden_cove(), TlbShape::amd_zen4(), TlbShape::teaching()}) {
    auto back = TlbShape::parse(s.to_config(), "roundtrip");
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(back.value().to_config(), s.to_config());
  }
  const auto s = TlbShape::parse(
      "# a small core\n"
      "name tiny\n"
      "tlb itlb level=1 ports=instruction sizes=4K entries=16 ways=4   # 4 sets\n"
      "tlb dtlb level=1 ports=data sizes=4K,2M,1G entries=8\n"
      "tlb stlb level=2 ports=unified sizes=4K,2M sets=64 ways=8 replacement=plru\n"
      "\n"
      "psc PDE entries=16 ways=4\n",
      "tiny.tlb");
  ASSERT_TRUE(s.ok()) << s.error();
  const TlbShape& t = s.value();
  EXPECT_EQ(t.name, "tiny");
  ASSERT_EQ(t.arrays.size(), 3u);
  EXPECT_EQ(t.arrays[0].sets, 4u);
  EXPECT_EQ(t.arrays[1].sets, 1u);
  EXPECT_EQ(t.arrays[1].ways, 8u);
  EXPECT_TRUE(t.arrays[1].holds(PageSize::k1G));
  EXPECT_EQ(t.arrays[2].replacement, Replacement::kTreePlru);
  ASSERT_EQ(t.psc.size(), 1u);
  EXPECT_EQ(t.psc[0].level, Level::kPde);
  EXPECT_EQ(t.psc[0].sets, 4u);
}

TEST(TlbShape, ConfigErrorsNameFileLineColumnAndWhatWasExpected) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"tlb d level=3 ports=data sizes=4K sets=1 ways=1\n",
       "t.tlb:1:7: expected level=1 or level=2"},
      {"name x\ntlb d level=1 ports=data sizes=4K sets=3 ways=1\n",
       "t.tlb:2:35: the number of sets (3) must be a power of two"},
      {"tlb d level=1 ports=data sizes=8K sets=1 ways=1\n", "t.tlb:1:26: expected sizes="},
      {"tlb d level=1 ports=data sizes=4K\n", "t.tlb:1:1: expected sets=N and ways=N"},
      {"tlb d level=1 sizes=4K sets=1 ways=1\n", "t.tlb:1:1: missing ports="},
      {"tlb d level=1 ports=data sizes=4K sets=1 ways=6 replacement=plru\n",
       "tree-PLRU needs a power-of-two number of ways"},
      {"tlb a level=1 ports=data sizes=4K sets=1 ways=1\n"
       "tlb b level=1 ports=unified sizes=4K,2M sets=1 ways=1\n",
       "t.tlb:2:1: TLB arrays 'a' and 'b' both hold 4K pages"},
      {"psc PTE sets=1 ways=1\n", "t.tlb:1:5: expected a PSC level"},
      {"psc PDE sets=1 ways=1 foo=2\n", "t.tlb:1:23: unknown option 'foo'"},
      {"tlb d level=1 ports=data sizes=4K sets=x ways=1\n", "t.tlb:1:35: expected sets=<positive"},
      {"tlbs\n", "t.tlb:1:1: expected 'name', 'source', 'tlb' or 'psc', found 'tlbs'"},
      {"tlb d level=1 ports=data sizes=4K entries=6 ways=4\n", "not a multiple of ways=4"},
  };
  for (const Case& c : cases) {
    auto r = TlbShape::parse(c.text, "t.tlb");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().find(c.message), std::string::npos) << r.error();
  }
}

TEST(TlbShape, LoadFromFileOrPreset) {
  EXPECT_EQ(TlbShape::named_or_file("teaching").value().name, "teaching");
  auto missing = TlbShape::named_or_file("/nonexistent/x.tlb");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot open"), std::string::npos);
  EXPECT_FALSE(TlbShape::named_or_file("pentium").ok());
  char path[] = "/tmp/pagesim-tlb-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << TlbShape::amd_zen4().to_config();
  }
  auto loaded = TlbShape::named_or_file(path);
  std::remove(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded.value().to_config(), TlbShape::amd_zen4().to_config());
}

}  // namespace
}  // namespace pagesim::mmu
