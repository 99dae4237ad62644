#include "workloads/trace_parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "workloads/number.h"

namespace pagesim::wl {
namespace {

TEST(Number, ParsesDecimalHexUnderscoresAndSuffixes) {
  EXPECT_EQ(parse_number("4096"), 4096u);
  EXPECT_EQ(parse_number("0x1000"), 4096u);
  EXPECT_EQ(parse_number("0X1F"), 31u);
  EXPECT_EQ(parse_number("0xffff_8000_0000_0000"), 0xffff800000000000ull);
  EXPECT_EQ(parse_number("4K"), 4096u);
  EXPECT_EQ(parse_number("4KiB"), 4096u);
  EXPECT_EQ(parse_number("2M"), 2u << 20);
  EXPECT_EQ(parse_number("1G"), 1u << 30);
  EXPECT_EQ(parse_number("3T"), u64{3} << 40);
  EXPECT_EQ(parse_number("0x2M"), 2u << 20);
  EXPECT_EQ(parse_number("18446744073709551615"), ~u64{0});
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("18446744073709551616"));  // 2^64
  EXPECT_FALSE(parse_number("16777216T"));             // 2^64 after the suffix
  EXPECT_FALSE(parse_number("0x"));
  EXPECT_FALSE(parse_number("_1"));
  EXPECT_FALSE(parse_number("1_"));
  EXPECT_FALSE(parse_number("12a"));
  EXPECT_FALSE(parse_number("0xg"));
  EXPECT_FALSE(parse_number("4k"));  // suffixes are upper case
  EXPECT_EQ(format_size(4096), "4K");
  EXPECT_EQ(format_size(2u << 20), "2M");
  EXPECT_EQ(format_size(0x1234), "0x1234");
}

// Parses a whole trace; returns the statements or the first error.
struct Parsed {
  std::vector<TraceOp> ops;
  std::optional<TraceError> error;
  MachineConfig machine;
};

Parsed parse(const std::string& text, MachineOverrides ov = {}) {
  Parsed out;
  auto p = TraceParser::from_string("t.trace", text);
  if (auto r = p->read_preamble(ov); !r.ok()) {
    out.error = r.error();
    return out;
  }
  out.machine = p->machine();
  TraceOp op;
  for (;;) {
    auto r = p->next(op);
    if (!r.ok()) {
      out.error = r.error();
      return out;
    }
    if (!*r) break;
    out.ops.push_back(op);
  }
  return out;
}

constexpr const char* kHead = "pagesim-trace 1\nmachine cpus=2 ram=1G\nspace 1\n";

TEST(TraceParser, ParsesEveryStatement) {
  Parsed p = parse(std::string(kHead) +
                   "# a comment line\n"
                   "\n"
                   "cpu1 map 0x400000 16K prot=r-x user global cache=wt page=4K accessed dirty "
                   "as=1 # trailing comment\n"
                   "map_pa 0xffff800000000000 0x200000 2M prot=rw- global cache=uc\n"
                   "unmap 0x400000 4K as=1\n"
                   "protect 0x400000 4K prot=r-- cache=wb clear=ad\n"
                   "read 0x400123 cpl=3 ac=1 implicit ss -> ok pa=0x1234 size=4K\n"
                   "write 0x400123 -> pf code=0x7\n"
                   "fetch 0x8000_0000_0000 cpl=3 -> gp\n"
                   "read 0x800000000000 ss -> ss\n"
                   "switch as=1 pcid=5 noflush\n"
                   "switch as=kernel\n"
                   "flush\n"
                   "invlpg 0x400000\n"
                   "invpcid 0 pcid=5 va=0x400000\n"
                   "cr0 wp=0\n"
                   "cr4 pge=1 smep=1 smap=0 pke=1 pks=0 pcide=1\n"
                   "efer nxe=0\n"
                   "pkru 0xc\n"
                   "pkrs 3\n"
                   "cpl 3\n"
                   "ac 1\n"
                   "expect-entry 0x400000 level=1 raw=0x8000000000000067 mask=0xfff as=1\n"
                   "barrier\n");
  ASSERT_FALSE(p.error) << p.error->to_string();
  EXPECT_EQ(p.machine.cpus, 2);
  EXPECT_EQ(p.machine.ram, 1 * GiB);
  ASSERT_EQ(p.ops.size(), 23u);
  const TraceOp& map = p.ops[1];
  EXPECT_EQ(map.kind, OpKind::kMap);
  EXPECT_EQ(map.cpu, 1);
  EXPECT_EQ(map.line, 6u);
  EXPECT_EQ(map.va, VAddr(0x400000));
  EXPECT_EQ(map.len, 16 * KiB);
  EXPECT_EQ(map.prot, kProtR | kProtX);
  EXPECT_TRUE(map.user && map.global && map.accessed && map.dirty);
  EXPECT_EQ(map.cache, CacheMode::kWt);
  EXPECT_EQ(map.page_size, 4 * KiB);
  EXPECT_EQ(map.space, 1);
  EXPECT_EQ(p.ops[0].kind, OpKind::kSpace);
  EXPECT_EQ(p.ops[2].kind, OpKind::kMapPa);
  EXPECT_EQ(p.ops[2].pa, PAddr(0x200000));
  EXPECT_EQ(p.ops[4].clear, kClearA | kClearD);
  const TraceOp& rd = p.ops[5];
  EXPECT_EQ(rd.kind, OpKind::kAccess);
  EXPECT_EQ(rd.cpl, 3);
  EXPECT_EQ(rd.ac, 1);
  EXPECT_TRUE(rd.implicit && rd.stack);
  EXPECT_EQ(rd.expect.kind, ExpectAccess::Kind::kOk);
  EXPECT_EQ(rd.expect.pa, 0x1234u);
  EXPECT_EQ(rd.expect.size, 4 * KiB);
  EXPECT_EQ(p.ops[6].expect.kind, ExpectAccess::Kind::kPf);
  EXPECT_EQ(p.ops[6].expect.code, 7);
  EXPECT_EQ(p.ops[7].access, AccessType::kFetch);
  EXPECT_EQ(p.ops[7].expect.kind, ExpectAccess::Kind::kGp);
  EXPECT_EQ(p.ops[8].expect.kind, ExpectAccess::Kind::kSs);
  EXPECT_EQ(p.ops[9].pcid, 5);
  EXPECT_TRUE(p.ops[9].noflush);
  EXPECT_EQ(p.ops[10].space, kSpaceKernel);
  EXPECT_EQ(p.ops[13].invpcid_type, 0);
  EXPECT_EQ(p.ops[15].set_bits, (u64{1} << 7) | (u64{1} << 20) | (u64{1} << 22) | (u64{1} << 17));
  EXPECT_EQ(p.ops[15].clear_bits, (u64{1} << 21) | (u64{1} << 24));
  EXPECT_EQ(p.ops[17].value, 0xcu);
  EXPECT_EQ(p.ops[21].level, 1);
  EXPECT_EQ(p.ops[21].mask, 0xfffu);
  EXPECT_EQ(p.ops[22].kind, OpKind::kBarrier);
}

TEST(TraceParser, MachineDefaultsAndOverrides) {
  Parsed p = parse("pagesim-trace 1\nread 0\n");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.machine.levels, 4);
  EXPECT_EQ(p.machine.ram, 4 * GiB);
  EXPECT_EQ(p.machine.cpus, 1);
  EXPECT_EQ(p.machine.tlb, "intel");
  EXPECT_TRUE(p.machine.shootdown);
  MachineOverrides ov;
  ov.cpus = 3;
  ov.tlb = "teaching";
  ov.shootdown = false;
  p = parse("pagesim-trace 1\nmachine cpus=1 tlb=amd\ncpu2 read 0\n", ov);
  ASSERT_FALSE(p.error) << p.error->to_string();
  EXPECT_EQ(p.machine.cpus, 3);
  EXPECT_EQ(p.machine.tlb, "teaching");
  EXPECT_FALSE(p.machine.shootdown);
}

TEST(TraceParser, FiveLevelAddressesAreCanonicalThere) {
  Parsed p = parse("pagesim-trace 1\nmachine levels=5\nspace 1\nmap 0x00ab7d6c987d4000 4K as=1\n");
  ASSERT_FALSE(p.error) << p.error->to_string();
  p = parse("pagesim-trace 1\nspace 1\nmap 0x00ab7d6c987d4000 4K as=1\n");
  ASSERT_TRUE(p.error);
  EXPECT_NE(p.error->message.find("not canonical for 4-level"), std::string::npos);
}

// One bad line and where the error must point.
struct BadCase {
  const char* name;
  std::string text;  // after kHead
  u64 line;          // 1-based, counting kHead's three lines
  u64 column;        // 0 = whole line
  const char* says;  // a substring of the message
};

class TraceParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(TraceParserErrors, NamesFileLineColumnAndWhatWasExpected) {
  const BadCase& c = GetParam();
  Parsed p = parse(std::string(kHead) + c.text);
  ASSERT_TRUE(p.error) << c.name << ": accepted";
  EXPECT_EQ(p.error->file, "t.trace");
  EXPECT_EQ(p.error->line, c.line) << p.error->to_string();
  EXPECT_EQ(p.error->column, c.column) << p.error->to_string();
  EXPECT_NE(p.error->message.find(c.says), std::string::npos) << p.error->to_string();
}

INSTANTIATE_TEST_SUITE_P(
    EveryError, TraceParserErrors,
    ::testing::Values(
        BadCase{"unknown_statement", "jump 0x1000\n", 4, 1, "unknown statement 'jump'"},
        BadCase{"cpu_beyond_machine", "cpu2 read 0\n", 4, 1, "beyond the machine's 2 CPUs"},
        BadCase{"bad_cpu_prefix", "cpux read 0\n", 4, 1, "expected a CPU prefix"},
        BadCase{"no_op_after_prefix", "cpu1\n", 4, 0, "expected an operation"},
        BadCase{"bad_number", "read 0x12g\n", 4, 6, "expected a virtual address"},
        BadCase{"number_overflow", "read 0x1_0000_0000_0000_0000\n", 4, 6,
                "expected a virtual address"},
        BadCase{"unknown_key", "map 0x400000 4K colour=red as=1\n", 4, 17, "unknown key 'colour'"},
        BadCase{"repeated_key", "map 0x400000 4K prot=r-- prot=rw- as=1\n", 4, 26, "given twice"},
        BadCase{"unknown_word", "map 0x400000 4K usr as=1\n", 4, 17, "unexpected 'usr'"},
        BadCase{"missing_length", "map 0x400000 as=1\n", 4, 0, "needs a length"},
        BadCase{"unaligned_va", "map 0x400001 4K as=1\n", 4, 5, "is not 4K-aligned"},
        BadCase{"unaligned_len", "map 0x400000 100 as=1\n", 4, 14, "is not 4K-aligned"},
        BadCase{"zero_len", "unmap 0x400000 0 as=1\n", 4, 16, "must not be zero"},
        BadCase{"non_canonical_map", "map 0x800000000000 4K\n", 4, 5, "not canonical"},
        BadCase{"range_outside_halves", "map 0x7ffffffff000 8K as=1\n", 4, 5,
                "outside both the user half"},
        BadCase{"bad_prot", "map 0x400000 4K prot=wx as=1\n", 4, 22, "expected rights like"},
        BadCase{"unreadable_prot", "protect 0x400000 4K prot=-w- as=1\n", 4, 26, "always readable"},
        BadCase{"bad_cache", "map 0x400000 4K cache=wc as=1\n", 4, 23, "expected wb, wt or uc"},
        BadCase{"bad_page_size", "map 0x400000 4K page=8K as=1\n", 4, 22, "expected 4K, 2M or 1G"},
        BadCase{"page_size_misaligned", "map 0x400000 4M page=1G as=1\n", 4, 22,
                "must be multiples"},
        BadCase{"unknown_space", "map 0x400000 4K as=7\n", 4, 20, "existing address space"},
        BadCase{"kernel_address_in_user_space", "map 0xffffffff80000000 4K as=1\n", 4, 0,
                "belongs to the kernel page table"},
        BadCase{"user_address_in_kernel_space", "unmap 0x400000 4K as=kernel\n", 4, 0,
                "maps only the upper half"},
        BadCase{"map_in_linear_range", "map 0xffff800000000000 4K\n", 4, 5, "linear-mapping range"},
        BadCase{"map_pa_outside_linear_range", "map_pa 0xffffffff80000000 0 4K\n", 4, 8,
                "only in the kernel's linear-mapping range"},
        BadCase{"map_pa_beyond_maxphyaddr", "map_pa 0xffff800000000000 0x3ffffffff000 8K\n", 4, 27,
                "beyond MAXPHYADDR"},
        BadCase{"protect_needs_prot", "protect 0x400000 4K as=1\n", 4, 0, "needs prot="},
        BadCase{"bad_clear", "protect 0x400000 4K prot=r-- clear=x as=1\n", 4, 36,
                "expected a, d or ad"},
        BadCase{"bad_cpl", "read 0x1000 cpl=4\n", 4, 17, "expected 0 to 3 for 'cpl'"},
        BadCase{"bad_ac", "read 0x1000 ac=2\n", 4, 16, "expected 0 or 1 for 'ac'"},
        BadCase{"fetch_ac", "fetch 0x1000 ac=1\n", 4, 14, "unknown key 'ac'"},
        BadCase{"arrow_without_expectation", "read 0x1000 ->\n", 4, 13, "expected ok, pf"},
        BadCase{"bad_expectation", "read 0x1000 -> fine\n", 4, 16, "found 'fine'"},
        BadCase{"pf_without_code", "read 0x1000 -> pf\n", 4, 16, "expected code="},
        BadCase{"ok_bad_size", "read 0x1000 -> ok size=3K\n", 4, 24, "expected 4K, 2M or 1G"},
        BadCase{"expect_unknown_key", "read 0x1000 -> gp code=1\n", 4, 19, "unknown key 'code'"},
        BadCase{"arrow_on_map", "map 0x400000 4K as=1 -> ok\n", 4, 22, "'->' pins only"},
        BadCase{"switch_needs_as", "switch pcid=1\n", 4, 0, "needs as=N"},
        BadCase{"pcid_too_large", "switch as=1 pcid=4096\n", 4, 18, "expected 0 to 4095"},
        BadCase{"invpcid_type", "invpcid 4\n", 4, 9, "INVPCID type 0 to 3"},
        BadCase{"cr4_nothing", "cr4\n", 4, 1, "needs at least one of"},
        BadCase{"cr4_bad_value", "cr4 pge=2\n", 4, 9, "expected 0 or 1 for 'pge'"},
        BadCase{"cr0_unknown_bit", "cr0 wp=1 pg=0\n", 4, 10, "unknown key 'pg'"},
        BadCase{"pkru_too_large", "pkru 0x100000000\n", 4, 6, "32-bit value"},
        BadCase{"cpl_value", "cpl 5\n", 4, 5, "expected 0 to 3"},
        BadCase{"expect_entry_level", "expect-entry 0x400000 level=5 raw=0 as=1\n", 4, 29,
                "level from 1 to 4"},
        BadCase{"expect_entry_raw", "expect-entry 0x400000 level=1 as=1\n", 4, 0, "needs raw="},
        BadCase{"space_twice", "space 1\n", 4, 7, "already exists"},
        BadCase{"space_zero", "space 0\n", 4, 7, "from 1 to 65535"},
        BadCase{"barrier_with_cpu", "cpu1 barrier\n", 4, 1, "machine-wide"},
        BadCase{"machine_late", "machine cpus=2\n", 4, 1, "must come right after the header"},
        BadCase{"header_twice", "pagesim-trace 1\n", 4, 1, "only once"}));

TEST(TraceParser, HeaderAndMachineErrors) {
  auto err = [](const std::string& text) {
    Parsed p = parse(text);
    EXPECT_TRUE(p.error) << text;
    return p.error ? p.error->to_string() : std::string();
  };
  EXPECT_EQ(err(""), "t.trace:1: empty trace: expected the header 'pagesim-trace 1'");
  EXPECT_EQ(err("read 0\n"),
            "t.trace:1:1: expected the header 'pagesim-trace 1' as the first statement, found "
            "'read'");
  EXPECT_EQ(err("pagesim-trace 2\n"),
            "t.trace:1:15: unsupported trace format version: this pagesim reads 'pagesim-trace 1'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine levels=6\n"),
            "t.trace:2:16: expected 4 or 5 for 'levels', found '6'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine ram=1000\n"),
            "t.trace:2:13: expected a RAM size that is a non-zero multiple of 4K, at most 4P, for "
            "'ram', found '1000'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine cpus=65\n"),
            "t.trace:2:14: expected 1 to 64 for 'cpus', found '65'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine maxphyaddr=31\n"),
            "t.trace:2:20: expected 32 to 52 for 'maxphyaddr', found '31'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine profile=bochs\n"),
            "t.trace:2:17: expected sdm, amd or qemu for 'profile', found 'bochs'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine shootdown=maybe\n"),
            "t.trace:2:19: expected on or off for 'shootdown', found 'maybe'");
  EXPECT_EQ(err("pagesim-trace 1\nmachine colour=red\n"),
            "t.trace:2:9: unknown machine key 'colour' (expected one of: levels, ram, cpus, tlb, "
            "maxphyaddr, profile, shootdown)");
  EXPECT_EQ(err("pagesim-trace 1\nmachine cpus=2 cpus=3\n"),
            "t.trace:2:16: machine key 'cpus' given twice");
  EXPECT_EQ(err("pagesim-trace 1\nmachine ram=128T maxphyaddr=40\n"),
            "t.trace:2: ram=128T exceeds 2^maxphyaddr (40 bits)");
  EXPECT_EQ(err("pagesim-trace 1\nmachine cpus\n"),
            "t.trace:2:9: expected key=value in 'machine', found 'cpus'");
  MachineOverrides ov;
  ov.cpus = 100;
  Parsed p = parse("pagesim-trace 1\n", ov);
  ASSERT_TRUE(p.error);
  EXPECT_NE(p.error->message.find("1 to 64"), std::string::npos);
}

// The fast path for plain accesses must give exactly what the general parser gives: checked on
// every bundled trace, on access lines of every accepted shape, and on near-misses that only the
// general parser may accept or reject.
TEST(TraceParser, FastPathAgreesWithTheGeneralParser) {
  auto all = [](const std::string& name, const std::string& text, TraceParser::FastPath f) {
    auto p = TraceParser::from_string(name, text);
    p->set_fast_path(f);
    std::vector<TraceOp> ops;
    std::string error;
    if (auto r = p->read_preamble(); !r.ok()) return std::pair{ops, r.error().to_string()};
    TraceOp op;
    for (;;) {
      auto r = p->next(op);
      if (!r.ok()) {
        error = r.error().to_string();
        break;
      }
      if (!*r) break;
      ops.push_back(op);
    }
    return std::pair{ops, error};
  };
  auto same = [&](const std::string& name, const std::string& text) {
    auto fast = all(name, text, TraceParser::FastPath::kOn);
    auto slow = all(name, text, TraceParser::FastPath::kOff);
    EXPECT_EQ(fast.second, slow.second) << name;
    EXPECT_EQ(fast.first.size(), slow.first.size()) << name;
    for (size_t i = 0; i < std::min(fast.first.size(), slow.first.size()); ++i) {
      EXPECT_TRUE(fast.first[i] == slow.first[i])
          << name << ": statement " << i << " (line " << slow.first[i].line << ")";
    }
    return fast.first.size();
  };
  namespace fs = std::filesystem;
  size_t files = 0, statements = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(PAGESIM_SOURCE_DIR) / "traces")) {
    if (e.path().extension() != ".trace") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    statements += same(e.path().string(), ss.str());
    ++files;
  }
  EXPECT_GT(files, 10u);
  EXPECT_GT(statements, 10000u);
  same("shapes", std::string(kHead) +
                     "read 0x1000\nwrite 4096 cpl=3\ncpu1 fetch 0x2000 cpl=0\n"
                     "read 0x1000 -> ok\nread 0x1000  ->  ok  size=2M\nwrite 0 -> pf code=0x7\n"
                     "read 0x1000 cpl=3 -> ok size=1G\nread 0x800000000000 -> gp\n"
                     "read 0x1000 ac=1\nread 0x1000\t cpl=3\nread 0x1000 # c\n"
                     "read 0x1000 cpl=3 implicit\nread 0x1000 -> ok pa=0x1000 size=4K\n");
  for (const char* bad :
       {"read", "read 0x1000 cpl=4", "read 0x1000 -> ok size=3K", "read 0x1000 -> pf code=0x10000",
        "cpu01 read 0", "cpu2 read 0", "read 0x1000 cpl=3 extra", "read 0x1000 ->",
        "read 0x1000 -> pf", "read 0x1g", "fetch 0x1000 ac=1", "reads 0x1000"}) {
    same(bad, std::string(kHead) + bad + "\n");
  }
}

TEST(TraceParser, LongLineIsAnErrorNotAMemoryHog) {
  Parsed p = parse("pagesim-trace 1\nread " + std::string(70000, '1') + "\n");
  ASSERT_TRUE(p.error);
  EXPECT_NE(p.error->message.find("line too long"), std::string::npos);
}

TEST(TraceParser, StreamsAFileLargerThanItsBuffer) {
  // 300,000 lines (several of the parser's 4 MiB reads, with lines split across reads).
  const std::string path = ::testing::TempDir() + "/big.trace";
  {
    std::ofstream f(path);
    f << "pagesim-trace 1\n";
    for (int i = 0; i < 300000; ++i) f << "read 0x" << std::hex << (i * 4096) << " cpl=3\n";
  }
  auto p = TraceParser::open(path);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p.value()->read_preamble().ok());
  TraceOp op;
  u64 n = 0;
  for (;;) {
    auto r = p.value()->next(op);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    if (!*r) break;
    ASSERT_EQ(op.va, VAddr(n * 4096));
    ASSERT_EQ(op.line, n + 2);
    ++n;
  }
  EXPECT_EQ(n, 300000u);
  auto missing = TraceParser::open(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().to_string().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace pagesim::wl
