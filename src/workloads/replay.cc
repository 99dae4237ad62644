#include "workloads/replay.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "mmu/mmu.h"
#include "sim/frame_allocator.h"
#include "sim/log.h"
#include "sim/phys_mem.h"
#include "workloads/number.h"
#include "workloads/reference_model.h"
#include "workloads/sim_os.h"

namespace pagesim::wl {

std::string Mismatch::to_string() const {
  std::string s = fmt::format("{}:{}: cpu{}: {} mismatch", file, line, cpu, what);
  if (va) s += fmt::format(" at {:#x}", *va);
  s += fmt::format("\n    expected: {}\n    actual:   {}", expected, actual);
  if (!detail.empty()) s += fmt::format("\n    {}", detail);
  return s;
}

namespace {

using Clock = std::chrono::steady_clock;

// A doorbell a CPU thread sleeps on; rung when work arrives for it (an operation, a shootdown
// request, a barrier release).
class Doorbell {
 public:
  u32 value() const { return v_.load(std::memory_order_acquire); }
  void ring() {
    v_.fetch_add(1, std::memory_order_acq_rel);
    v_.notify_one();
  }
  void wait(u32 seen) { v_.wait(seen, std::memory_order_acquire); }

 private:
  std::atomic<u32> v_{0};
};

// A TLB shootdown request (an IPI): invalidate these pages (or everything) of one address space
// and acknowledge.
struct ShootdownRequest {
  i64 space = kSpaceKernel;
  std::vector<std::pair<VAddr, u64>> pages;
  bool full = false;
  std::atomic<u32> pending{0};
  Doorbell* sender = nullptr;
};

// An operation for a CPU thread, in a bounded single-producer single-consumer ring.
struct Item {
  enum class Kind : u8 { kOp, kBarrier, kEnd } kind = Kind::kOp;
  TraceOp op;
  u64 record_index = 0;
};

class OpRing {
 public:
  explicit OpRing(size_t capacity) : items_(capacity) {}
  bool try_push(Item&& it) {
    const u64 t = tail_.load(std::memory_order_relaxed);
    if (t - head_.load(std::memory_order_acquire) == items_.size()) return false;
    items_[t % items_.size()] = std::move(it);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  bool try_pop(Item& out) {
    const u64 h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) return false;
    out = std::move(items_[h % items_.size()]);
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  std::vector<Item> items_;
  alignas(64) std::atomic<u64> head_{0};
  alignas(64) std::atomic<u64> tail_{0};
};

// A pin `--record` wrote, kept until its epoch ends: a pin on a page that another CPU changed
// in the same epoch depends on the interleaving, and is dropped then.
struct PendingPin {
  u64 record_index;
  u16 cpu;
  i64 space;
  VAddr va;
  enum class Kind : u8 { kAccess, kEntry } kind;
};

struct RecordLine {
  std::string text;
  std::string pin;     // "-> ..." for accesses
  std::string extra;   // lines to add after it (expect-entry pins)
  bool unpin = false;  // a racing access: drop any pin it had
};

struct Cpu {
  Cpu(u16 id_, PhysMem& mem, const mmu::Profile& p, const mmu::TlbShape& shape)
      : id(id_), mmu(mem, p, shape), ring(1024) {}
  u16 id;
  mmu::Mmu mmu;
  ModelCpu model;                              // the model's own copy of the control registers
  std::unordered_map<i64, u16> pcid_of_space;  // the PCID this CPU last used for a space
  OpRing ring;
  Doorbell bell;
  u32 unrung = 0;  // items pushed since the bell last rang (the reader's thread only)
  std::mutex ipi_mu;
  std::deque<ShootdownRequest*> ipis;
  std::atomic<bool> has_ipi{false};
  u64 barrier_seen = 0;
  CpuReplayStats stats;
};

class Engine {
 public:
  Engine(TraceParser& parser, const ReplayOptions& opt) : parser_(parser), opt_(opt) {}

  ReplayResult run();

 private:
  // --- Set-up ---
  Result<void, TraceError> build_machine();
  TraceError at(u64 line, std::string msg) const {
    return TraceError{parser_.name(), line, 0, std::move(msg)};
  }

  // --- Execution on a CPU's thread ---
  void cpu_main(Cpu& c);
  void execute(Cpu& c, const TraceOp& op, u64 record_index);
  void execute_op(Cpu& c, const TraceOp& op, u64 record_index);
  void tamper(const TraceOp& op, i64 space);
  void note_peak() {
    const u64 now = alloc_->in_use();
    u64 seen = peak_frames_.load(std::memory_order_relaxed);
    while (now > seen && !peak_frames_.compare_exchange_weak(seen, now)) {
    }
  }
  void do_map(Cpu& c, const TraceOp& op, u64 ri);
  void do_map_pa(Cpu& c, const TraceOp& op, u64 ri);
  void do_unmap(Cpu& c, const TraceOp& op);
  void do_protect(Cpu& c, const TraceOp& op, u64 ri);
  void do_access(Cpu& c, const TraceOp& op, u64 ri);
  void do_switch(Cpu& c, const TraceOp& op);
  void do_expect_entry(Cpu& c, const TraceOp& op);
  void cpu_fault(const TraceOp& op, const mmu::CpuFault& f, std::string_view what);

  i64 target_space(const Cpu& c, const TraceOp& op);
  void after_change(Cpu& c, const TraceOp& op, i64 space, Effects& fx);
  void check_entries(Cpu& c, const TraceOp& op, i64 space, VRange r, u64 ri);
  bool check_entry(Cpu& c, const TraceOp& op, i64 space, VAddr va);

  // --- Shootdowns ---
  void invalidate_local(Cpu& c, i64 space, const std::vector<std::pair<VAddr, u64>>& pages,
                        bool full);
  void service_ipis(Cpu& c);
  void shoot_down(Cpu& c, i64 space, const Effects& fx);
  std::atomic<u64>& space_mask(i64 space);
  // The root table of a space: fixed for the space's life, so kept here rather than asked of
  // the OS (which takes a lock) on every check.
  PAddr root_of(i64 space) const {
    PAGESIM_ASSERT(space >= 0 && static_cast<size_t>(space) < roots_.size() &&
                       roots_[static_cast<size_t>(space)].value() != 0,
                   "no address space {}", space);
    return roots_[static_cast<size_t>(space)];
  }

  // --- Barriers and failure ---
  void barrier(Cpu& c);
  void end_epoch();
  void fail(TraceError e);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  void mismatch(Cpu& c, Mismatch m);

  TraceParser& parser_;
  const ReplayOptions& opt_;
  MachineConfig cfg_;
  mmu::Profile profile_;
  mmu::TlbShape shape_;
  std::unique_ptr<PhysMem> mem_;
  std::unique_ptr<FrameAllocator> alloc_;
  std::unique_ptr<SimOs> os_;
  std::unique_ptr<ReferenceModel> model_;
  std::vector<std::unique_ptr<Cpu>> cpus_;

  std::mutex spaces_mu_;
  std::unordered_map<i64, std::unique_ptr<std::atomic<u64>>> masks_;

  // Barrier state.
  std::atomic<u64> arrived_{0};
  std::atomic<u64> generation_{0};
  // CPUs that reached the end of the trace (they keep servicing shootdowns until all have).
  std::atomic<u64> finished_{0};

  std::atomic<bool> failed_{false};
  std::mutex result_mu_;
  ReplayResult result_;
  std::vector<RecordLine> record_;
  std::vector<PendingPin> pending_pins_;
  std::atomic<u64> peak_frames_{0};
  std::vector<i64> spaces_;   // user spaces created, in order
  std::vector<PAddr> roots_;  // by space id; written by the reader before any CPU uses the id
  u64 last_line_ = 0;
};

// --- Set-up ------------------------------------------------------------------------------------

Result<void, TraceError> Engine::build_machine() {
  cfg_ = parser_.machine();
  auto profile = mmu::Profile::named(cfg_.profile);
  if (!profile.ok()) return Err{at(0, profile.error())};
  profile_ = std::move(profile).value();
  if (cfg_.maxphyaddr_given) profile_.maxphyaddr = cfg_.maxphyaddr;
  cfg_.maxphyaddr = static_cast<u8>(profile_.maxphyaddr);
  if (auto v = profile_.validate(); !v.ok()) return Err{at(0, v.error())};
  if (cfg_.levels == 5 && profile_.la57 == mmu::Support::kNo) {
    return Err{at(0, fmt::format("profile {} has no 5-level paging", profile_.name))};
  }
  if (cfg_.ram > (u64{1} << profile_.maxphyaddr)) {
    return Err{at(0, fmt::format("ram={} exceeds 2^MAXPHYADDR ({} bits)", format_size(cfg_.ram),
                                 profile_.maxphyaddr))};
  }
  // The TLB: a preset, or a config file relative to the trace's folder.
  std::string tlb = cfg_.tlb;
  auto shape = mmu::TlbShape::named(tlb);
  if (!shape.ok()) {
    std::string path = tlb;
    if (!path.empty() && path[0] != '/' && !parser_.folder().empty()) {
      path = parser_.folder() + "/" + path;
    }
    shape = mmu::TlbShape::load(path);
    if (!shape.ok()) {
      return Err{TraceError{parser_.name(), parser_.tlb_line(), parser_.tlb_column(),
                            fmt::format("tlb={}: not a preset (intel, amd, teaching, ideal, none) "
                                        "and not a readable TLB config file: {}",
                                        tlb, shape.error())}};
    }
  }
  shape_ = std::move(shape).value();

  auto mem = PhysMem::create(cfg_.ram);
  if (!mem.ok()) return Err{at(0, mem.error())};
  mem_ = std::move(mem).value();
  alloc_ = std::make_unique<FrameAllocator>(*mem_);
  auto os = make_sim_os(*alloc_, cfg_.levels);
  if (!os.ok()) return Err{at(0, "setting up the kernel page table: " + os.error().message)};
  os_ = std::move(os).value();

  ModelParams mp;
  mp.levels = cfg_.levels;
  mp.maxphyaddr = static_cast<u8>(profile_.maxphyaddr);
  mp.cpus = cfg_.cpus;
  mp.profile.rsvd_sets_p = profile_.rsvd_fault_p == mmu::RsvdFaultP::kSet;
  mp.profile.stack_gp = profile_.non_canonical == mmu::NonCanonicalFault::kAlwaysGp;
  mp.profile.implicit_smap_honours_ac =
      profile_.implicit_smap == mmu::ImplicitSmap::kHonourAcBelowCpl3;
  mp.profile.pks_user_no_pk = profile_.pk_user_to_supervisor == mmu::PkUserToSupervisor::kOmit;
  mp.profile.a_on_faulting_1g_leaf =
      profile_.gb_leaf_accessed == mmu::GbLeafAccessed::kBeforeLeafChecks;
  mp.remember_removed = !cfg_.shootdown;
  model_ = std::make_unique<ReferenceModel>(mp);

  // Every CPU starts in IA-32e paging with CR3 at the kernel page table.
  CpuState st;
  st.cr3 = os_->root(kSpaceKernel).value();
  if (cfg_.levels == 5) st.cr4 |= reg::kCr4La57;
  for (u16 i = 0; i < cfg_.cpus; ++i) {
    auto c = std::make_unique<Cpu>(i, *mem_, profile_, shape_);
    if (auto r = c->mmu.set_state(st); !r.ok()) return Err{at(0, "CPU set-up: " + r.error())};
    c->stats.cpu = i;
    c->pcid_of_space[kSpaceKernel] = 0;
    cpus_.push_back(std::move(c));
  }
  space_mask(kSpaceKernel).store(~u64{0});
  roots_.assign(65536, PAddr(0));
  roots_[0] = os_->root(kSpaceKernel);
  return {};
}

std::atomic<u64>& Engine::space_mask(i64 space) {
  std::lock_guard g(spaces_mu_);
  auto& p = masks_[space];
  if (!p) p = std::make_unique<std::atomic<u64>>(0);
  return *p;
}

void Engine::fail(TraceError e) {
  std::lock_guard g(result_mu_);
  if (!failed_.load()) {
    result_.verdict = ReplayResult::Verdict::kBadInput;
    result_.error = std::move(e);
    failed_.store(true, std::memory_order_release);
  }
  for (auto& c : cpus_) c->bell.ring();
}

void Engine::mismatch(Cpu& c, Mismatch m) {
  ++c.stats.mismatches;
  std::lock_guard g(result_mu_);
  ++result_.mismatch_count;
  if (result_.mismatches.size() < opt_.max_reports) {
    m.file = parser_.name();
    result_.mismatches.push_back(std::move(m));
  }
}

void Engine::cpu_fault(const TraceOp& op, const mmu::CpuFault& f, std::string_view what) {
  fail(at(op.line, fmt::format("{} raises {}", what, f.describe())));
}

// --- Shootdowns --------------------------------------------------------------------------------

// Invalidates, on CPU `c`, the translations of `space` for `pages` (or all of them).
void Engine::invalidate_local(Cpu& c, i64 space, const std::vector<std::pair<VAddr, u64>>& pages,
                              bool full) {
  // The handler runs in the kernel: INVLPG and INVPCID need CPL 0.
  const u8 saved_cpl = c.mmu.state().cpl;
  c.mmu.set_cpl(0);
  const bool pcide = c.mmu.state().pcide();
  const u16 current = c.mmu.state().pcid();
  auto it = c.pcid_of_space.find(space);
  const u16 pcid = it != c.pcid_of_space.end() ? it->second : current;
  if (full || (space == kSpaceKernel && pcide)) {
    // Kernel mappings may be cached under every PCID: with PCIDs, drop everything.
    c.mmu.flush_all();
  } else {
    for (auto [va, size] : pages) {
      (void)size;  // INVLPG drops the whole page (of any size) that contains the address
      if (space == kSpaceKernel || !pcide || pcid == current) {
        auto r = c.mmu.invlpg(va);
        PAGESIM_ASSERT(r.ok(), "INVLPG at CPL 0 faulted: {}", r.error().describe());
      } else {
        auto r = c.mmu.invpcid(0, mmu::InvpcidDescriptor{pcid, va});
        if (!r.ok()) c.mmu.flush_all();  // a CPU model without INVPCID
      }
    }
  }
  c.mmu.set_cpl(saved_cpl);
  ++c.stats.local_invalidations;
}

void Engine::service_ipis(Cpu& c) {
  if (!c.has_ipi.load(std::memory_order_acquire)) return;
  for (;;) {
    ShootdownRequest* r = nullptr;
    {
      std::lock_guard g(c.ipi_mu);
      if (c.ipis.empty()) {
        c.has_ipi.store(false, std::memory_order_release);
        return;
      }
      r = c.ipis.front();
      c.ipis.pop_front();
    }
    invalidate_local(c, r->space, r->pages, r->full);
    ++c.stats.shootdowns_received;
    Doorbell* sender = r->sender;
    r->pending.fetch_sub(1, std::memory_order_acq_rel);  // r may be gone after this
    sender->ring();
  }
}

void Engine::shoot_down(Cpu& c, i64 space, const Effects& fx) {
  if (!fx.needs_invalidation()) return;
  const u64 mask = space_mask(space).load(std::memory_order_seq_cst);
  if (mask & (u64{1} << c.id)) invalidate_local(c, space, fx.pages, fx.full_flush);
  if (!cfg_.shootdown || cfg_.cpus == 1) return;
  ShootdownRequest req;
  req.space = space;
  req.pages = fx.pages;
  req.full = fx.full_flush;
  req.sender = &c.bell;
  u32 targets = 0;
  for (auto& t : cpus_) {
    if (t->id == c.id || !(mask & (u64{1} << t->id))) continue;
    ++targets;
  }
  if (targets == 0) return;
  req.pending.store(targets, std::memory_order_release);
  for (auto& t : cpus_) {
    if (t->id == c.id || !(mask & (u64{1} << t->id))) continue;
    {
      std::lock_guard g(t->ipi_mu);
      t->ipis.push_back(&req);
      t->has_ipi.store(true, std::memory_order_release);
    }
    t->bell.ring();
    ++c.stats.shootdowns_sent;
  }
  // Wait for every acknowledgement, servicing our own requests meanwhile (two CPUs may shoot
  // each other down at once).
  for (;;) {
    const u32 seen = c.bell.value();
    service_ipis(c);
    if (req.pending.load(std::memory_order_acquire) == 0) return;
    c.bell.wait(seen);
  }
}

// --- Barriers ----------------------------------------------------------------------------------

void Engine::end_epoch() {
  // Every CPU is waiting. First settle the epoch's recorded pins (the model still knows which
  // pages several CPUs changed), then resolve what racing operations left in memory.
  if (!pending_pins_.empty()) {
    std::lock_guard g(result_mu_);
    for (const PendingPin& p : pending_pins_) {
      if (cfg_.cpus == 1 || !model_->racing(p.cpu, p.space, p.va)) continue;
      RecordLine& l = record_[p.record_index];
      if (p.kind == PendingPin::Kind::kAccess) {
        l.pin.clear();
      } else {
        l.extra.clear();
      }
    }
    pending_pins_.clear();
  }
  model_->end_epoch(
      [&](i64 space, VAddr va, u8 level) {
        return ReferenceModel::read_leaf(*mem_, root_of(space), cfg_.levels, va, level);
      },
      [&](std::string msg) {
        Mismatch m;
        m.line = 0;
        m.what = "race";
        m.expected = "a state some order of the epoch's operations produces";
        m.actual = std::move(msg);
        mismatch(*cpus_[0], std::move(m));
      });
  note_peak();
}

void Engine::barrier(Cpu& c) {
  const u64 gen = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == cfg_.cpus) {
    end_epoch();
    arrived_.store(0, std::memory_order_relaxed);
    generation_.store(gen + 1, std::memory_order_release);
    for (auto& t : cpus_) t->bell.ring();
    return;
  }
  for (;;) {
    const u32 seen = c.bell.value();
    service_ipis(c);
    if (generation_.load(std::memory_order_acquire) != gen || failed()) return;
    c.bell.wait(seen);
  }
}

// --- Operations ---------------------------------------------------------------------------------

i64 Engine::target_space(const Cpu& c, const TraceOp& op) {
  if (op.va.value() >> 63) return kSpaceKernel;
  if (op.space != kSpaceCurrent) return op.space;
  if (c.model.space == kSpaceKernel) {
    fail(at(op.line, fmt::format("cpu{} has no user address space loaded (CR3 holds the kernel "
                                 "page table): add as=N, or 'switch as=N' first",
                                 c.id)));
    return kSpaceCurrent;
  }
  return c.model.space;
}

void Engine::after_change(Cpu& c, const TraceOp& op, i64 space, Effects& fx) {
  (void)op;
  shoot_down(c, space, fx);
  // Only now may the removed frames and tables be reused.
  fx.garbage.reset();
}

bool Engine::check_entry(Cpu& c, const TraceOp& op, i64 space, VAddr va) {
  ++c.stats.entries_checked;
  const RawLeaf leaf = ReferenceModel::read_leaf(*mem_, root_of(space), cfg_.levels, va, 0);
  // Hardware owns A and D: with other CPUs running, they may set them at any moment.
  const u64 ad = cfg_.cpus > 1 ? (u64{1} << 5 | u64{1} << 6) : 0;
  auto matches = [&](const ExpectedEntry& e) {
    if (!e.present) return !leaf.found;
    return leaf.found && e.level == leaf.level && ((e.raw ^ leaf.raw) & ~ad) == 0;
  };
  const ExpectedEntry want = model_->expected_entry(space, va);
  if (matches(want)) return true;
  // Not the registration order's entry: with racing CPUs, another order's may be in memory.
  if (cfg_.cpus > 1) {
    for (const ExpectedEntry& e : model_->allowed_entries(c.id, space, va)) {
      if (matches(e)) return true;
    }
  }
  Mismatch m;
  m.line = op.line;
  m.cpu = c.id;
  m.va = va.value();
  m.what = "entry";
  m.expected = want.present ? fmt::format("level-{} leaf {:#018x}", want.level, want.raw)
                            : std::string("no leaf mapping");
  m.actual =
      leaf.found
          ? fmt::format("level-{} leaf {:#018x} at {}", leaf.level, leaf.raw, leaf.entry_addr)
          : fmt::format("no leaf (path ends at level {}, entry {:#018x})", leaf.level, leaf.raw);
  if (want.present && leaf.found) m.detail = diff_entry_bits(want.raw, leaf.raw, ~ad);
  mismatch(c, std::move(m));
  return false;
}

void Engine::check_entries(Cpu& c, const TraceOp& op, i64 space, VRange r, u64 ri) {
  if (opt_.check == CheckLevel::kAccess || opt_.check == CheckLevel::kNone) return;
  u64 index = 0;
  bool first = true;
  for (VAddr va = r.start; va < r.end; ++index) {
    const ExpectedEntry e = model_->expected_entry(space, va);
    const u64 step = e.present ? ReferenceModel::level_size(e.level) : 4096;
    const bool sampled =
        opt_.check == CheckLevel::kFull ||
        ((op.line * 0x9E3779B97F4A7C15ull) ^ (index * 0xBF58476D1CE4E5B9ull) ^ opt_.seed) %
                opt_.sample_every ==
            0;
    if (sampled) check_entry(c, op, space, va);
    if (first && !opt_.record_path.empty() && e.present) {
      // --record: pin the first page's leaf entry. Frame bits depend on the interleaving with
      // several CPUs, and so do A/D: then only the other flag bits are pinned.
      const RawLeaf leaf = ReferenceModel::read_leaf(*mem_, root_of(space), cfg_.levels, va, 0);
      if (leaf.found) {
        const u64 mask = cfg_.cpus == 1 ? ~u64{0} : 0x8000'0000'0000'0f9full;
        const std::string prefix = op.cpu != 0 ? fmt::format("cpu{} ", op.cpu) : std::string();
        const std::string as =
            space == kSpaceKernel || space == c.model.space ? "" : fmt::format(" as={}", space);
        std::string line = fmt::format("{}expect-entry {:#x} level={} raw={:#018x}", prefix,
                                       va.value(), leaf.level, leaf.raw & mask);
        if (mask != ~u64{0}) line += fmt::format(" mask={:#018x}", mask);
        line += as + "  # recorded";
        std::lock_guard g(result_mu_);
        record_[ri].extra += line + "\n";
        pending_pins_.push_back(PendingPin{ri, c.id, space, va, PendingPin::Kind::kEntry});
      }
    }
    first = false;
    va = va.align_down(step) + step;
    if (va.value() == 0) break;
  }
}

void Engine::do_map(Cpu& c, const TraceOp& op, u64 ri) {
  const i64 space = target_space(c, op);
  if (failed()) return;
  const pt::PageProperty prop =
      to_property(op.prot, op.user, op.global, op.cache, op.accessed, op.dirty);
  u64 pages = 0;
  auto before = [&](VAddr va, u64 size, PAddr frame) {
    ModelMapping m;
    m.frame = frame.value();
    m.shift = static_cast<u8>(std::countr_zero(size));
    m.prot = op.prot;
    m.user = op.user;
    m.global = op.global;
    m.cache = op.cache;
    m.tracked = true;
    m.accessed = op.accessed;
    m.dirty = op.dirty;
    model_->map_page(c.id, op.line, space, va, m);
    pages += size / 4096;
  };
  auto fx = os_->map(space, op.va, op.len, op.page_size, prop, before);
  if (!fx.ok()) return fail(at(op.line, "map: " + fx.error().message));
  tamper(op, space);
  c.stats.pages_mapped += pages;
  note_peak();
  after_change(c, op, space, *fx);
  check_entries(c, op, space, VRange{op.va, op.va + op.len}, ri);
}

void Engine::do_map_pa(Cpu& c, const TraceOp& op, u64 ri) {
  const pt::PageProperty prop =
      to_property(op.prot, false, op.global, op.cache, op.accessed, op.dirty);
  ModelMapping proto;
  proto.prot = op.prot;
  proto.global = op.global;
  proto.cache = op.cache;
  proto.accessed = op.accessed;
  proto.dirty = op.dirty;
  model_->map_pa(c.id, op.line, op.va, op.pa, op.len, proto);
  auto fx = os_->map_pa(op.va, op.pa, op.len, prop);
  if (!fx.ok()) return fail(at(op.line, "map_pa: " + fx.error().message));
  tamper(op, kSpaceKernel);
  c.stats.pages_mapped += op.len / 4096;
  note_peak();
  after_change(c, op, kSpaceKernel, *fx);
  check_entries(c, op, kSpaceKernel, VRange{op.va, op.va + op.len}, ri);
}

void Engine::do_unmap(Cpu& c, const TraceOp& op) {
  const i64 space = target_space(c, op);
  if (failed()) return;
  const VRange r{op.va, op.va + op.len};
  model_->unmap(c.id, op.line, space, r);
  auto fx = os_->unmap(space, r);
  if (!fx.ok()) return fail(at(op.line, "unmap: " + fx.error().message));
  tamper(op, space);
  c.stats.pages_unmapped += fx->pages.size();
  after_change(c, op, space, *fx);
  if (opt_.check == CheckLevel::kFull || opt_.check == CheckLevel::kSample) {
    // Spot-check that the range's first and last pages are gone.
    check_entry(c, op, space, r.start);
    if (op.len > 4096) check_entry(c, op, space, r.end - 4096);
  }
}

void Engine::do_protect(Cpu& c, const TraceOp& op, u64 ri) {
  const i64 space = target_space(c, op);
  if (failed()) return;
  const VRange r{op.va, op.va + op.len};
  std::optional<CacheMode> cache;
  std::optional<pt::CachePolicy> policy;
  if (op.cache_given) {
    cache = op.cache;
    policy = to_property(kProtR, false, false, op.cache, false, false).cache;
  }
  model_->protect(c.id, op.line, space, r, op.prot, cache, op.clear);
  auto fx = os_->protect(space, r, op.prot, policy, op.clear);
  if (!fx.ok()) return fail(at(op.line, "protect: " + fx.error().message));
  tamper(op, space);
  c.stats.pages_protected += op.len / 4096;
  after_change(c, op, space, *fx);
  check_entries(c, op, space, r, ri);
}

ModelOutcome to_model(const mmu::Outcome& o) {
  ModelOutcome m;
  if (auto* ok = std::get_if<mmu::Ok>(&o)) {
    m.kind = ModelOutcome::Kind::kOk;
    m.pa = ok->pa.value();
    m.size = mmu::page_bytes(ok->page_size);
  } else if (auto* pf = std::get_if<mmu::PageFault>(&o)) {
    m.kind = ModelOutcome::Kind::kPf;
    m.code = static_cast<u16>(pf->error_code);
  } else if (auto* nc = std::get_if<mmu::NonCanonical>(&o)) {
    m.kind = nc->vector == mmu::NcVector::kSs ? ModelOutcome::Kind::kSs : ModelOutcome::Kind::kGp;
  } else {
    m.kind = ModelOutcome::Kind::kPf;
    m.code = 0xffff;  // a bus error: never what the model expects
  }
  return m;
}

std::string pin_of(const ModelOutcome& o, bool with_pa) {
  switch (o.kind) {
    case ModelOutcome::Kind::kOk:
      return with_pa ? fmt::format("-> ok pa={:#x} size={}", o.pa, format_size(o.size))
                     : fmt::format("-> ok size={}", format_size(o.size));
    case ModelOutcome::Kind::kPf:
      return fmt::format("-> pf code={:#x}", o.code);
    case ModelOutcome::Kind::kGp:
      return "-> gp";
    case ModelOutcome::Kind::kSs:
      return "-> ss";
  }
  return "";
}

void Engine::do_access(Cpu& c, const TraceOp& op, u64 ri) {
  ModelAccess ma;
  ma.va = op.va;
  ma.type = op.access;
  ma.cpl = op.cpl >= 0 ? static_cast<u8>(op.cpl) : c.model.cpl;
  ma.ac = op.ac >= 0 ? op.ac == 1 : c.model.ac;
  ma.implicit = op.implicit;
  ma.stack = op.stack;

  mmu::Access a;
  a.kind = op.access == AccessType::kRead    ? mmu::AccessKind::kRead
           : op.access == AccessType::kWrite ? mmu::AccessKind::kWrite
                                             : mmu::AccessKind::kFetch;
  a.cpl = ma.cpl;
  a.ac = ma.ac ? mmu::Ac::kSet : mmu::Ac::kClear;
  a.origin = op.implicit ? mmu::AccessOrigin::kImplicitSupervisor : mmu::AccessOrigin::kExplicit;
  a.segment = op.stack ? mmu::Segment::kSs : mmu::Segment::kDs;
  const mmu::Translation t = c.mmu.translate(op.va, a);
  const ModelOutcome got = to_model(t.outcome);

  switch (op.access) {
    case AccessType::kRead:
      ++c.stats.reads;
      break;
    case AccessType::kWrite:
      ++c.stats.writes;
      break;
    case AccessType::kFetch:
      ++c.stats.fetches;
      break;
  }
  if (got.kind == ModelOutcome::Kind::kPf) ++c.stats.faults;
  if (got.kind == ModelOutcome::Kind::kGp || got.kind == ModelOutcome::Kind::kSs) {
    ++c.stats.non_canonical;
  }

  const i64 space = op.va.value() >> 63 ? kSpaceKernel : c.model.space;
  if (opt_.check != CheckLevel::kNone) {
    if (!model_->judge(c.id, c.model, ma, got)) {
      const ModelOutcome want = model_->expect(c.id, c.model, ma);
      Mismatch m;
      m.line = op.line;
      m.cpu = c.id;
      m.va = op.va.value();
      m.what = "access";
      m.expected = describe(want);
      m.actual = describe(got) + fmt::format(" (from {})", mmu::translation_source_name(t.source));
      const bool from_tlb =
          t.source == mmu::TranslationSource::kL1Hit || t.source == mmu::TranslationSource::kL2Hit;
      if (from_tlb) {
        if (auto old = model_->removed_mapping(space, op.va)) {
          if (model_->evaluate(&*old, c.model, ma) == got) {
            m.what = "stale TLB hit";
            m.detail = fmt::format(
                "cpu{} used a translation that line {} (cpu{}) removed or "
                "changed; it was never invalidated on this CPU{}",
                c.id, old->line, old->cpu, cfg_.shootdown ? "" : " (shootdowns are off)");
          }
        }
      }
      if (m.detail.empty() && want.kind == ModelOutcome::Kind::kPf &&
          got.kind == ModelOutcome::Kind::kPf) {
        m.detail = fmt::format("error code bits: expected [{}], found [{}]",
                               describe_error_code(want.code), describe_error_code(got.code));
      }
      mismatch(c, std::move(m));
    } else if (got.kind == ModelOutcome::Kind::kOk &&
               (t.source == mmu::TranslationSource::kWalk ||
                t.source == mmu::TranslationSource::kPscWalk)) {
      // After a walk the leaf must have A (and D for a write) set in memory (AD1, AD2). Not
      // after a TLB hit: a hit touches no memory (T8), and if A or D was cleared without an
      // invalidation the flag may legitimately stay clear (AD7); with shootdowns on the OS
      // invalidates whenever it clears them, so the next access walks and is checked here.
      // Another CPU's operation on the page in this epoch may have replaced the leaf since the
      // walk; it is looked for only after the leaf is read, because an operation is entered in
      // the model before it writes memory: one whose write this read saw is then found.
      const RawLeaf leaf = ReferenceModel::read_leaf(*mem_, root_of(space), cfg_.levels, op.va, 0);
      const bool a_ok = leaf.found && (leaf.raw & 0x20);
      const bool d_ok = op.access != AccessType::kWrite || (leaf.found && (leaf.raw & 0x40));
      if ((!a_ok || !d_ok) && !model_->racing(c.id, space, op.va)) {
        Mismatch m;
        m.line = op.line;
        m.cpu = c.id;
        m.va = op.va.value();
        m.what = "accessed/dirty";
        m.expected = op.access == AccessType::kWrite ? "leaf with A=1 and D=1" : "leaf with A=1";
        m.actual = leaf.found ? fmt::format("leaf {:#018x}", leaf.raw) : "no leaf";
        mismatch(c, std::move(m));
      }
    }
  }
  // Pins.
  if (op.expect.kind != ExpectAccess::Kind::kNone) {
    ++c.stats.pins_checked;
    bool ok = true;
    std::string want;
    switch (op.expect.kind) {
      case ExpectAccess::Kind::kOk:
        ok = got.kind == ModelOutcome::Kind::kOk && (!op.expect.pa || *op.expect.pa == got.pa) &&
             (!op.expect.size || *op.expect.size == got.size);
        want = "ok";
        if (op.expect.pa) want += fmt::format(" pa={:#x}", *op.expect.pa);
        if (op.expect.size) want += fmt::format(" size={}", format_size(*op.expect.size));
        break;
      case ExpectAccess::Kind::kPf:
        ok = got.kind == ModelOutcome::Kind::kPf && got.code == op.expect.code;
        want =
            fmt::format("pf code={:#x} [{}]", op.expect.code, describe_error_code(op.expect.code));
        break;
      case ExpectAccess::Kind::kGp:
        ok = got.kind == ModelOutcome::Kind::kGp;
        want = "gp";
        break;
      case ExpectAccess::Kind::kSs:
        ok = got.kind == ModelOutcome::Kind::kSs;
        want = "ss";
        break;
      case ExpectAccess::Kind::kNone:
        break;
    }
    if (!ok) {
      Mismatch m;
      m.line = op.line;
      m.cpu = c.id;
      m.va = op.va.value();
      m.what = "pin";
      m.expected = want;
      m.actual = describe(got);
      mismatch(c, std::move(m));
    }
  }
  if (!opt_.record_path.empty()) {
    std::lock_guard g(result_mu_);
    record_[ri].pin = pin_of(got, cfg_.cpus == 1);
    record_[ri].unpin = true;  // replace a pin the line had
    pending_pins_.push_back(PendingPin{ri, c.id, space, op.va, PendingPin::Kind::kAccess});
  }
}

void Engine::do_switch(Cpu& c, const TraceOp& op) {
  const i64 space = op.space == kSpaceCurrent ? c.model.space : op.space;
  const bool pcide = c.mmu.state().pcide();
  if (op.pcid && !pcide) {
    return fail(at(op.line, "switch pcid=... needs CR4.PCIDE=1 (set it with 'cr4 pcide=1')"));
  }
  const u16 pcid = op.pcid.value_or(0);
  u64 cr3 = root_of(space).value() | (pcide ? pcid : 0);
  if (op.noflush) cr3 |= reg::kCr3NoFlush;
  const i64 old = c.model.space;
  const u16 old_pcid = c.mmu.state().pcid();
  // Join the new space's CPU set before loading it, so no shootdown for it can miss us.
  space_mask(space).fetch_or(u64{1} << c.id, std::memory_order_seq_cst);
  if (auto r = c.mmu.mov_to_cr3(cr3); !r.ok())
    return cpu_fault(op, r.error(), "switch (MOV to CR3)");
  c.model.space = space;
  c.pcid_of_space[space] = pcide ? pcid : 0;
  // Leave the old space's set only if this load flushed its entries: without PCIDs, or with the
  // same PCID and no no-flush hint (INV3).
  if (old != space && old != kSpaceKernel && (!pcide || (pcid == old_pcid && !op.noflush))) {
    space_mask(old).fetch_and(~(u64{1} << c.id), std::memory_order_seq_cst);
  }
}

void Engine::do_expect_entry(Cpu& c, const TraceOp& op) {
  const i64 space = target_space(c, op);
  if (failed()) return;
  ++c.stats.pins_checked;
  const RawLeaf r = ReferenceModel::read_leaf(*mem_, root_of(space), cfg_.levels, op.va, op.level);
  Mismatch m;
  m.line = op.line;
  m.cpu = c.id;
  m.va = op.va.value();
  m.what = "pin";
  m.expected = fmt::format("level-{} entry {:#018x} (mask {:#018x})", op.level, op.raw, op.mask);
  if (r.level != op.level) {
    m.actual = fmt::format(
        "the walk path ends at level {} (entry {:#018x}) and does not reach "
        "level {}",
        r.level, r.raw, op.level);
    return mismatch(c, std::move(m));
  }
  if (((r.raw ^ op.raw) & op.mask) != 0) {
    m.actual = fmt::format("{:#018x} at {}", r.raw, r.entry_addr);
    m.detail = diff_entry_bits(op.raw, r.raw, op.mask);
    mismatch(c, std::move(m));
  }
}

void Engine::tamper(const TraceOp& op, i64 space) {
  if (opt_.tamper && !failed()) opt_.tamper(op, *mem_, root_of(space));
}

void Engine::execute(Cpu& c, const TraceOp& op, u64 ri) {
  execute_op(c, op, ri);
  // Memory-management operations call the hook themselves, between the change and its checks.
  const bool mm = op.kind == OpKind::kMap || op.kind == OpKind::kMapPa ||
                  op.kind == OpKind::kUnmap || op.kind == OpKind::kProtect;
  if (!mm) tamper(op, op.va.value() >> 63 ? kSpaceKernel : c.model.space);
}

void Engine::execute_op(Cpu& c, const TraceOp& op, u64 ri) {
  ++c.stats.ops[static_cast<size_t>(op.kind)];
  switch (op.kind) {
    case OpKind::kMap:
      return do_map(c, op, ri);
    case OpKind::kMapPa:
      return do_map_pa(c, op, ri);
    case OpKind::kUnmap:
      return do_unmap(c, op);
    case OpKind::kProtect:
      return do_protect(c, op, ri);
    case OpKind::kAccess:
      return do_access(c, op, ri);
    case OpKind::kSwitch:
      return do_switch(c, op);
    case OpKind::kFlush: {
      const u64 cr3 = c.mmu.state().cr3 & ~reg::kCr3NoFlush;
      if (auto r = c.mmu.mov_to_cr3(cr3); !r.ok()) return cpu_fault(op, r.error(), "flush");
      return;
    }
    case OpKind::kInvlpg:
      if (auto r = c.mmu.invlpg(op.va); !r.ok()) return cpu_fault(op, r.error(), "invlpg");
      return;
    case OpKind::kInvpcid:
      if (auto r =
              c.mmu.invpcid(op.invpcid_type, mmu::InvpcidDescriptor{op.pcid.value_or(0), op.va});
          !r.ok()) {
        return cpu_fault(op, r.error(), "invpcid");
      }
      return;
    case OpKind::kCr0: {
      const u64 v = (c.mmu.state().cr0 | op.set_bits) & ~op.clear_bits;
      if (auto r = c.mmu.mov_to_cr0(v); !r.ok()) return cpu_fault(op, r.error(), "MOV to CR0");
      c.model.wp = (v & reg::kCr0Wp) != 0;
      return;
    }
    case OpKind::kCr4: {
      const u64 v = (c.mmu.state().cr4 | op.set_bits) & ~op.clear_bits;
      if (auto r = c.mmu.mov_to_cr4(v); !r.ok()) return cpu_fault(op, r.error(), "MOV to CR4");
      c.model.smep = (v & reg::kCr4Smep) != 0;
      c.model.smap = (v & reg::kCr4Smap) != 0;
      c.model.pke = (v & reg::kCr4Pke) != 0;
      c.model.pks = (v & reg::kCr4Pks) != 0;
      return;
    }
    case OpKind::kEfer: {
      const u64 v = (c.mmu.state().efer | op.set_bits) & ~op.clear_bits;
      if (auto r = c.mmu.write_efer(v); !r.ok()) return cpu_fault(op, r.error(), "WRMSR EFER");
      c.model.nxe = (v & reg::kEferNxe) != 0;
      return;
    }
    case OpKind::kPkru:
      if (auto r = c.mmu.wrpkru(static_cast<u32>(op.value)); !r.ok()) {
        return cpu_fault(op, r.error(), "WRPKRU");
      }
      c.model.pkru = static_cast<u32>(op.value);
      return;
    case OpKind::kPkrs:
      if (auto r = c.mmu.write_pkrs(op.value); !r.ok()) {
        return cpu_fault(op, r.error(), "WRMSR IA32_PKRS");
      }
      c.model.pkrs = static_cast<u32>(op.value);
      return;
    case OpKind::kCpl:
      c.mmu.set_cpl(static_cast<u8>(op.value));
      c.model.cpl = static_cast<u8>(op.value);
      return;
    case OpKind::kAc:
      c.mmu.set_ac(op.value ? mmu::Ac::kSet : mmu::Ac::kClear);
      c.model.ac = op.value != 0;
      return;
    case OpKind::kExpectEntry:
      return do_expect_entry(c, op);
    case OpKind::kSpace:
    case OpKind::kBarrier:
      PAGESIM_UNREACHABLE("{} reached a CPU", op_kind_name(op.kind));
  }
}

void Engine::cpu_main(Cpu& c) {
  Item it;
  for (;;) {
    const u32 seen = c.bell.value();
    service_ipis(c);
    if (!c.ring.try_pop(it)) {
      c.bell.wait(seen);
      continue;
    }
    if (it.kind == Item::Kind::kEnd) break;
    if (failed()) continue;  // drain: the reader must never block on a full ring
    if (it.kind == Item::Kind::kBarrier) {
      barrier(c);
      continue;
    }
    execute(c, it.op, it.record_index);
  }
  // Done, but other CPUs may still shoot this one down: keep answering until all are done.
  finished_.fetch_add(1, std::memory_order_acq_rel);
  for (auto& t : cpus_) t->bell.ring();
  for (;;) {
    const u32 seen = c.bell.value();
    service_ipis(c);
    if (finished_.load(std::memory_order_acquire) == cfg_.cpus) return;
    c.bell.wait(seen);
  }
}

ReplayResult Engine::run() {
  const auto t0 = Clock::now();
  if (!opt_.record_path.empty()) {
    parser_.set_line_sink([this](u64, std::string_view text) {
      std::lock_guard g(result_mu_);
      record_.push_back(RecordLine{std::string(text), {}, {}});
    });
  }
  if (auto r = parser_.read_preamble(opt_.overrides); !r.ok()) {
    ReplayResult out;
    out.verdict = ReplayResult::Verdict::kBadInput;
    out.error = r.error();
    return out;
  }
  if (auto r = build_machine(); !r.ok()) {
    ReplayResult out;
    out.verdict = ReplayResult::Verdict::kBadInput;
    out.error = r.error();
    return out;
  }
  const bool recording = !opt_.record_path.empty();
  const bool single = cfg_.cpus == 1;
  std::vector<std::thread> threads;
  if (!single) {
    for (auto& c : cpus_) threads.emplace_back([this, cp = c.get()] { cpu_main(*cp); });
  }
  // Hands an item to a CPU thread, waiting while its ring is full (a failed replay drains the
  // rings, so the end marker always gets through). The bell rings once per kBellBatch items, and
  // for every CPU at a barrier, every kFlushLines lines and at the end: a CPU thread that drained
  // its ring sleeps, and waking it for each item cost a futex call and a context switch per
  // operation (ten times slower on two cores). The reader never waits for a CPU except on a full
  // ring, where it rings first, so no item is left unannounced while anyone waits for it.
  constexpr u32 kBellBatch = 64;
  constexpr u64 kFlushLines = 256;
  auto push = [&](Cpu& c, Item&& item) {
    while (!c.ring.try_push(std::move(item))) {
      c.bell.ring();
      c.unrung = 0;
      std::this_thread::yield();
    }
    if (++c.unrung >= kBellBatch) {
      c.bell.ring();
      c.unrung = 0;
    }
  };
  auto ring_all = [&] {
    for (auto& c : cpus_) {
      if (c->unrung == 0) continue;
      c->bell.ring();
      c->unrung = 0;
    }
  };

  // Progress on stderr when it is a terminal.
  const bool progress = opt_.progress && isatty(2);
  auto last_progress = Clock::now();

  TraceOp op;
  u64 lines = 0;
  while (!failed()) {
    auto got = parser_.next(op);
    if (!got.ok()) {
      fail(got.error());
      break;
    }
    if (!*got) break;
    if (opt_.stop_after_line != 0 && op.line > opt_.stop_after_line) break;
    ++lines;
    const u64 ri = op.line - 1;  // the record holds every physical line (see the line sink)
    last_line_ = op.line;
    if (op.kind == OpKind::kSpace) {
      if (auto r = os_->new_space(static_cast<i64>(op.value)); !r.ok()) {
        fail(at(op.line, "space: " + r.error().message));
      }
      spaces_.push_back(static_cast<i64>(op.value));
      roots_[op.value] = os_->root(static_cast<i64>(op.value));
      continue;
    }
    if (single) {
      Cpu& c = *cpus_[0];
      if (op.kind == OpKind::kBarrier) {
        end_epoch();
      } else {
        execute(c, op, ri);
      }
    } else if (op.kind == OpKind::kBarrier) {
      for (auto& c : cpus_) push(*c, Item{Item::Kind::kBarrier, {}, 0});
      ring_all();
    } else {
      push(*cpus_[op.cpu], Item{Item::Kind::kOp, op, ri});
      if (lines % kFlushLines == 0) ring_all();
    }
    if (progress && (lines & 0xffff) == 0 &&
        Clock::now() - last_progress > std::chrono::milliseconds(200)) {
      last_progress = Clock::now();
      std::fprintf(stderr, "\r%s: %llu lines", parser_.name().c_str(),
                   static_cast<unsigned long long>(lines));
    }
  }
  if (!single) {
    for (auto& c : cpus_) push(*c, Item{Item::Kind::kEnd, {}, 0});
    for (auto& c : cpus_) c->bell.ring();
    for (auto& c : cpus_) c->unrung = 0;
    for (auto& t : threads) t.join();
  }
  if (progress) std::fprintf(stderr, "\r%*s\r", 60, "");
  if (!failed()) end_epoch();
  ReplayResult out;
  {
    std::lock_guard g(result_mu_);
    out = std::move(result_);
  }
  if (out.verdict != ReplayResult::Verdict::kBadInput) {
    out.verdict = out.mismatch_count == 0 ? ReplayResult::Verdict::kMatched
                                          : ReplayResult::Verdict::kMismatch;
  }
  out.stats.file = parser_.name();
  out.stats.machine = cfg_;
  out.stats.lines = parser_.lines_read();
  out.stats.peak_frames_in_use = std::max(peak_frames_.load(), alloc_->in_use());
  out.stats.frames_in_use_at_end = alloc_->in_use();
  for (auto& c : cpus_) {
    c->stats.mmu = c->mmu.stats();
    c->stats.walker = c->mmu.walker().stats();
    c->stats.tlb = c->mmu.tlb().stats();
    out.stats.cpus.push_back(c->stats);
  }
  out.stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // Tools look at the machine last, so what they translate is not counted in the statistics.
  if (opt_.inspect && !failed()) {
    MachineView view{cfg_, profile_, shape_, *mem_, {}, {}, {}, {}, 0};
    for (auto& c : cpus_) {
      view.cpus.push_back(&c->mmu);
      view.current_space.push_back(c->model.space);
    }
    view.spaces = spaces_;
    view.root = [this](i64 space) { return root_of(space); };
    view.last_line = last_line_;
    opt_.inspect(view);
  }

  if (recording && out.verdict != ReplayResult::Verdict::kBadInput) {
    // Write the trace back with every access pinned (docs/trace-format.md, "Pins").
    const std::string tmp = opt_.record_path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
      out.verdict = ReplayResult::Verdict::kBadInput;
      out.error = TraceError{opt_.record_path, 0, 0, "cannot write the recorded trace"};
      return out;
    }
    for (const RecordLine& l : record_) {
      std::string_view text = l.text;
      if (text.find("# recorded") != std::string_view::npos) continue;  // a previous recording
      if (!l.pin.empty() || l.unpin) {
        // Replace an existing pin, keep a trailing comment.
        std::string_view comment;
        if (auto h = text.find('#'); h != std::string_view::npos) {
          comment = text.substr(h);
          text = text.substr(0, h);
        }
        if (auto a = text.find("->"); a != std::string_view::npos) text = text.substr(0, a);
        while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
        std::fprintf(f, "%.*s%s%s%s%.*s\n", static_cast<int>(text.size()), text.data(),
                     l.pin.empty() ? "" : " ", l.pin.c_str(), comment.empty() ? "" : "  ",
                     static_cast<int>(comment.size()), comment.data());
      } else {
        std::fprintf(f, "%.*s\n", static_cast<int>(text.size()), text.data());
      }
      if (!l.extra.empty()) std::fputs(l.extra.c_str(), f);
    }
    const bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
    std::fclose(f);
    if (!ok || std::rename(tmp.c_str(), opt_.record_path.c_str()) != 0) {
      std::remove(tmp.c_str());
      out.verdict = ReplayResult::Verdict::kBadInput;
      out.error = TraceError{opt_.record_path, 0, 0, "cannot write the recorded trace"};
    }
  }
  return out;
}

}  // namespace

ReplayResult replay(TraceParser& parser, const ReplayOptions& options) {
  Engine e(parser, options);
  return e.run();
}

ReplayResult replay_file(const std::string& path, const ReplayOptions& options) {
  auto p = TraceParser::open(path);
  if (!p.ok()) {
    ReplayResult out;
    out.verdict = ReplayResult::Verdict::kBadInput;
    out.error = p.error();
    return out;
  }
  return replay(*p.value(), options);
}

}  // namespace pagesim::wl
