#include "controller/control/arbiter.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <vector>

#include "controller/status/collect_status.h"
#include "shim/launch/launch_gate.h"
#include "shim/util/byte_size.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"

namespace tgs::controller {
namespace {

uint64_t ToMilliBlocks(double rate) {
  if (!(rate < kUnlimited)) return 0;  // open
  return std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(rate * 1000.0)));
}

uint64_t LaunchedBlocks(state::ContainerState& s, int g) {
  uint64_t blocks = s.gpus[g].retired_blocks.load(std::memory_order_relaxed);
  for (const state::ProcessSlot& slot : s.processes) blocks += slot.gpu[g].blocks.load(std::memory_order_relaxed);
  return blocks;
}

std::string Rate(double r) {
  if (!(r < kUnlimited)) return "unlimited";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

}  // namespace

std::string Arbiter::StatusLine(const std::string& gpu, const GpuStatus& s) {
  std::string line = gpu + ": " + RatePhaseName(s.phase);
  if (s.phase != RatePhase::kOpen) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "; production %.0f blocks/s, reference %.0f (%.1f%%)", s.production_rate,
                  s.reference, s.reference > 0 ? 100.0 * s.production_rate / s.reference : 0.0);
    line += buf;
  }
  line += "; opportunistic limit " + Rate(s.limit) + " blocks/s, using " + Rate(s.opportunistic_rate);
  return line;
}

void Arbiter::Report(const RegistrySnapshot& snapshot, NodeStatus* status) const {
  if (snapshot.board == nullptr) return;
  for (const auto& [b, control] : gpus_) {
    int gpu = FindGpuReport(*status, snapshot.board->gpus[b].uuid);
    if (gpu < 0) continue;
    GpuReport& r = status->gpus[static_cast<size_t>(gpu)];
    const GpuStatus& s = control.status();
    r.phase = RatePhaseName(s.phase);
    r.production_blocks_per_second = s.production_rate;
    r.production_reference_blocks_per_second = s.reference;
    r.opportunistic_limit_blocks_per_second = s.limit < kUnlimited ? s.limit : kNoLimit;
    r.opportunistic_blocks_per_second = s.opportunistic_rate;
    for (ContainerOnGpu& p : status->placements) {
      if (p.gpu != gpu) continue;
      if (const ResidencyStatus* m = memory_.Status(p.container, b)) p.thrashing = m->thrashing;
    }
  }
}

const GpuRateControl* Arbiter::ForGpu(int board_gpu) const {
  auto it = gpus_.find(board_gpu);
  return it == gpus_.end() ? nullptr : &it->second;
}

void Arbiter::OnInterval(const RegistrySnapshot& snapshot) {
  reporter_.OnInterval(snapshot);
  memory_.OnInterval(snapshot);
  if (snapshot.board == nullptr) return;
  state::NodeBoard& board = *snapshot.board;
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(snapshot.now.time_since_epoch()).count();

  struct Gpu {
    GpuInput in;
    std::vector<state::GpuEntry*> opportunistic_gates;
    std::vector<state::GpuEntry*> production_gates;
    std::vector<std::string> production_memory;     // "<key> production <used>/<limit>", for the report
    std::vector<std::string> opportunistic_memory;  // "<used>/<limit>" by opportunistic input
  };
  std::map<int, Gpu> gpus;
  for (int b = 0; b < state::kBoardGpus; ++b) {
    state::BoardGpu& e = board.gpus[b];
    if (e.claimed.load(std::memory_order_acquire) != 1) continue;
    // From the policy, so that a reload takes effect within an interval.
    e.yield.store(snapshot.control->yield_to_production ? 1 : 0, std::memory_order_relaxed);
    Gpu& g = gpus[b];
    g.in.now_s = static_cast<double>(now_ns) / 1e9;
    g.in.production_processes = static_cast<int>(e.production_processes.load(std::memory_order_relaxed));
    int64_t last = e.production_last_launch_ns.load(std::memory_order_acquire);
    g.in.production_blocks = e.production_blocks.load(std::memory_order_relaxed);
    g.in.production_last_launch_s = last > 0 ? static_cast<double>(last) / 1e9 : 0;
    g.in.production_idle_s = last > 0 ? static_cast<double>(now_ns - last) / 1e9 : 1e9;
  }
  for (const ContainerView& c : snapshot.containers) {
    state::ContainerState& s = c.file->state();
    bool production = c.policy->kind == policy::Kind::kProduction;
    for (int g = 0; g < state::kMaxGpus; ++g) {
      state::GpuEntry& entry = s.gpus[g];
      if (entry.claimed.load(std::memory_order_acquire) != 1) continue;
      int b = state::FindBoardGpu(board, entry.uuid);
      if (b < 0) continue;
      Gpu& gpu = gpus[b];
      uint64_t blocks = LaunchedBlocks(s, g);
      uint64_t limit = entry.limit_bytes.load(std::memory_order_relaxed);
      std::string memory = "memory " + FormatByteSize(entry.used_bytes.load(std::memory_order_relaxed)) + " of " +
                           (limit != 0 ? FormatByteSize(limit) : std::string("unlimited"));
      if (production) {
        gpu.production_memory.push_back(c.key + " (" + c.policy->class_name + ") " + memory);
        gpu.production_gates.push_back(&entry);
      } else {
        // A gate timeline ahead of now: launches are queued behind its rate.
        bool backlogged = entry.gate_rate_mblocks.load(std::memory_order_relaxed) != 0 &&
                          entry.gate_tat_ns.load(std::memory_order_relaxed) > now_ns;
        gpu.in.opportunistic.push_back(
            {c.key, c.policy->weight, blocks, entry.gate_waits.load(std::memory_order_relaxed), backlogged});
        gpu.opportunistic_gates.push_back(&entry);
        gpu.opportunistic_memory.push_back(" (" + c.policy->class_name + ") " + memory);
      }
    }
  }

  bool report = report_every_.count() > 0 && snapshot.now - last_report_ >= report_every_;
  if (report) last_report_ = snapshot.now;
  for (auto& [b, gpu] : gpus) {
    if (gpu.in.opportunistic.empty() && gpu.in.production_processes == 0 && !gpus_.contains(b)) continue;
    GpuRateControl& control = gpus_.try_emplace(b, *snapshot.control).first->second;
    control.set_params(*snapshot.control);
    GpuDecision d = control.Step(gpu.in);
    for (size_t i = 0; i < gpu.opportunistic_gates.size(); ++i) {
      state::GpuEntry& e = *gpu.opportunistic_gates[i];
      uint64_t rate = ToMilliBlocks(d.rates[i]);
      uint64_t old = e.gate_rate_mblocks.exchange(rate, std::memory_order_relaxed);
      launch::RescaleGate(e, old, rate, now_ns);
      gpu.opportunistic_gates[i]->gate_fallback_mblocks.store(ToMilliBlocks(d.fallback_rates[i]),
                                                              std::memory_order_relaxed);
    }
    // Production is never gated, also not by a class change on reload.
    for (state::GpuEntry* e : gpu.production_gates) {
      e->gate_rate_mblocks.store(0, std::memory_order_relaxed);
      e->gate_fallback_mblocks.store(0, std::memory_order_relaxed);
    }
    const GpuStatus& st = control.status();
    auto [it, inserted] = last_phase_.try_emplace(b, st.phase);
    bool changed = inserted || it->second != st.phase;
    it->second = st.phase;
    if (changed || report) {
      std::string line = StatusLine(FormatGpuUuid(board.gpus[b].uuid), st);
      // Per container: "| <key> (<class>) [gate <rate> blocks/s] memory <used> of <limit>".
      for (const std::string& m : gpu.production_memory) line += " | " + m;
      for (size_t i = 0; i < gpu.in.opportunistic.size(); ++i) {
        line += " | " + gpu.in.opportunistic[i].key + gpu.opportunistic_memory[i];
        if (const ResidencyStatus* r = memory_.Status(gpu.in.opportunistic[i].key, b)) {
          line += MemoryArbiter::Describe(*r);
        }
        line += ", gate " + Rate(d.rates[i]) + " blocks/s";
      }
      TGS_LOG_INFO("%s", line.c_str());
    }
  }
}

}  // namespace tgs::controller
