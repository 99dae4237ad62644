// Test helpers for the teaching and encoding tools: running the `pagesim` binary the way a
// user does (PAGESIM_BINARY, with the repository root as working directory), golden files, and
// page tables built entry by entry in a PhysMem (independent of src/pagetable and of the code
// under test, which only reads them).
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mmu/entry_bits.h"
#include "mmu/level.h"
#include "sim/cpu_state.h"
#include "sim/phys_mem.h"

namespace pagesim::testing {

inline const std::string kSourceDir = PAGESIM_SOURCE_DIR;
inline const std::string kBinary = PAGESIM_BINARY;

struct RunResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `pagesim ARGS...` in the repository root. `path_env`, if given, replaces PATH (to hide
// Graphviz's `dot`).
inline RunResult run_pagesim(const std::vector<std::string>& args,
                             std::optional<std::string> path_env = std::nullopt) {
  char out_tpl[] = "/tmp/pagesim-cli-out-XXXXXX";
  char err_tpl[] = "/tmp/pagesim-cli-err-XXXXXX";
  const int out_fd = mkstemp(out_tpl);
  const int err_fd = mkstemp(err_tpl);
  RunResult r;
  if (out_fd < 0 || err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return r;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    if (chdir(kSourceDir.c_str()) != 0) _exit(126);
    if (path_env) setenv("PATH", path_env->c_str(), 1);
    std::vector<std::string> all{kBinary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kBinary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  close(out_fd);
  close(err_fd);
  r.out = read_file(out_tpl);
  r.err = read_file(err_tpl);
  unlink(out_tpl);
  unlink(err_tpl);
  return r;
}

// Compares `actual` with tests/cli/golden/NAME. With PAGESIM_UPDATE_GOLDEN=1 in the
// environment the file is rewritten instead (review the diff before committing it).
inline void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = kSourceDir + "/tests/cli/golden/" + name;
  if (std::getenv("PAGESIM_UPDATE_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << "missing golden file " << path
                         << " (run with PAGESIM_UPDATE_GOLDEN=1 to create it)";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(actual, ss.str()) << "output differs from " << path;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Page tables written entry by entry, the way the spec's vectors state them: tables from
// `next_table` upwards, the root at `root`.
class HandTables {
 public:
  HandTables(PhysMem& mem, int levels, u64 root = 0x1000, u64 next_table = 0x10000)
      : mem_(mem), levels_(levels), root_(root), next_(next_table) {}

  // Writes `leaf_value` at level `leaf` on the path of `va`, creating missing tables whose
  // entries get `table_flags`. Returns the leaf entry's address.
  u64 map(u64 va, u64 leaf_value, mmu::Level leaf = mmu::Level::kPte,
          u64 table_flags = mmu::entry::kP | mmu::entry::kRw | mmu::entry::kUs) {
    u64 table = root_;
    for (int n = levels_; n > mmu::level_number(leaf); --n) {
      const u64 addr = table + 8 * u64{mmu::level_index(VAddr(va), mmu::level_from_number(n))};
      const u64 e = get(addr);
      if (e & mmu::entry::kP) {
        table = e & mmu::entry::address_mask(52);
        continue;
      }
      const u64 next = next_;
      next_ += kFrameSize;
      set(addr, next | table_flags);
      table = next;
    }
    const u64 addr = table + 8 * u64{mmu::level_index(VAddr(va), leaf)};
    set(addr, leaf_value);
    return addr;
  }
  // The address of the entry of level `l` on `va`'s path.
  u64 entry_addr(u64 va, mmu::Level l) const {
    u64 table = root_;
    for (int n = levels_; n > mmu::level_number(l); --n) {
      table = get(table + 8 * u64{mmu::level_index(VAddr(va), mmu::level_from_number(n))}) &
              mmu::entry::address_mask(52);
    }
    return table + 8 * u64{mmu::level_index(VAddr(va), l)};
  }
  void set_entry(u64 va, mmu::Level l, u64 v) { set(entry_addr(va, l), v); }
  u64 get(u64 addr) const { return mem_.load_entry(PAddr(addr)).value(); }
  void set(u64 addr, u64 v) { EXPECT_TRUE(mem_.store_entry(PAddr(addr), v).ok()); }
  u64 root() const { return root_; }

 private:
  PhysMem& mem_;
  int levels_;
  u64 root_;
  u64 next_;
};

inline std::unique_ptr<PhysMem> make_mem(u64 size = 64 * MiB) {
  auto m = PhysMem::create(size);
  EXPECT_TRUE(m.ok());
  return std::move(m.value());
}

// The spec's baseline control state (section 0), CR3 = `root`.
inline CpuState baseline(int levels, u64 root = 0x1000) {
  CpuState s;
  s.cr3 = root;
  if (levels == 5) s.cr4 |= reg::kCr4La57;
  return s;
}

}  // namespace pagesim::testing
