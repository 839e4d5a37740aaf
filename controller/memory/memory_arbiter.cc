#include "controller/memory/memory_arbiter.h"

#include <algorithm>
#include <vector>

#include "controller/memory/residency_plan.h"
#include "shim/util/byte_size.h"
#include "shim/util/gpu_uuid.h"
#include "shim/util/log.h"

namespace tgs::controller {
namespace {

// Memory moved by placement within this window, measured against the
// container's unified memory, says whether it is thrashing: moving all of it
// out and back in again within ten seconds is churn, not a production job
// arriving or leaving once.
constexpr std::chrono::seconds kThrashWindow{10};
constexpr double kThrashRatio = 2.0;

struct Member {
  const ContainerView* view;
  state::GpuEntry* entry;
  uint64_t managed;
  uint64_t resident;
};

}  // namespace

const ResidencyStatus* MemoryArbiter::Status(const std::string& key, int board_gpu) const {
  auto it = watches_.find({key, board_gpu});
  return it == watches_.end() ? nullptr : &it->second.status;
}

std::string MemoryArbiter::Describe(const ResidencyStatus& s) {
  std::string text = ", unified " + FormatByteSize(s.managed) + ": " + FormatByteSize(s.resident) + " resident, " +
                     FormatByteSize(s.managed > s.resident ? s.managed - s.resident : 0) + " on host";
  if (s.budget != state::kNoResidentBudget) text += " (budget " + FormatByteSize(s.budget) + ")";
  uint64_t moved = s.evicted_total + s.prefetched_total;
  if (moved != 0) text += ", " + FormatByteSize(moved) + " moved";
  if (s.thrashing) text += ", THRASHING";
  return text;
}

void MemoryArbiter::Observe(const std::string& key, const std::string& gpu, Watch& w,
                            std::chrono::steady_clock::time_point now) {
  ResidencyStatus& s = w.status;
  uint64_t moved = s.evicted_total + s.prefetched_total;
  w.moved.emplace_back(now, moved);
  while (w.moved.size() > 1 && now - w.moved.front().first > kThrashWindow) w.moved.pop_front();
  uint64_t recent = moved - w.moved.front().second;
  bool thrashing = s.managed != 0 && static_cast<double>(recent) > kThrashRatio * static_cast<double>(s.managed);
  if (thrashing && !s.thrashing) {
    TGS_LOG_WARN("%s on %s is thrashing: %s of unified memory moved between GPU and host in the last %lld s "
                 "(it has %s; budget %s). Its resident budget keeps changing with production's memory; give it a "
                 "smaller memory_limit or a resident_limit it can live within",
                 key.c_str(), gpu.c_str(), FormatByteSize(recent).c_str(),
                 static_cast<long long>(kThrashWindow.count()), FormatByteSize(s.managed).c_str(),
                 s.budget == state::kNoResidentBudget ? "unlimited" : FormatByteSize(s.budget).c_str());
  } else if (!thrashing && s.thrashing) {
    TGS_LOG_INFO("%s on %s stopped thrashing", key.c_str(), gpu.c_str());
  }
  s.thrashing = thrashing;
  bool spilled = s.managed > s.resident;
  if (spilled && !w.spill_logged) {
    TGS_LOG_INFO("%s on %s: %s of its %s unified memory is on the host (resident budget %s); the GPU reads it "
                 "over the bus until production frees memory",
                 key.c_str(), gpu.c_str(), FormatByteSize(s.managed - s.resident).c_str(),
                 FormatByteSize(s.managed).c_str(),
                 s.budget == state::kNoResidentBudget ? "unlimited" : FormatByteSize(s.budget).c_str());
  } else if (!spilled && w.spill_logged) {
    TGS_LOG_INFO("%s on %s: all its unified memory is on the GPU again", key.c_str(), gpu.c_str());
  }
  w.spill_logged = spilled;
}

void MemoryArbiter::OnInterval(const RegistrySnapshot& snapshot) {
  if (snapshot.board == nullptr) return;
  state::NodeBoard& board = *snapshot.board;
  struct Gpu {
    uint64_t pinned = 0;
    std::vector<Member> members;  // oversubscribing containers
  };
  std::map<int, Gpu> gpus;
  for (const ContainerView& c : snapshot.containers) {
    state::ContainerState& s = c.file->state();
    bool oversubscribes = c.policy->oversubscribe && c.policy->kind == policy::Kind::kOpportunistic;
    for (int g = 0; g < state::kMaxGpus; ++g) {
      state::GpuEntry& entry = s.gpus[g];
      if (entry.claimed.load(std::memory_order_acquire) != 1) continue;
      int b = state::FindBoardGpu(board, entry.uuid);
      if (b < 0) continue;
      uint64_t used = entry.used_bytes.load(std::memory_order_relaxed);
      uint64_t managed = 0, resident = 0;
      for (const state::ProcessSlot& slot : s.processes) {
        if (slot.pid.load(std::memory_order_relaxed) == 0) continue;
        managed += slot.gpu[g].managed_bytes.load(std::memory_order_relaxed);
        resident += slot.gpu[g].placed_resident_bytes.load(std::memory_order_relaxed);
      }
      managed = std::min(managed, used);
      Gpu& gpu = gpus[b];
      if (oversubscribes) {
        gpu.pinned += used - managed;
        gpu.members.push_back({&c, &entry, managed, std::min(resident, managed)});
      } else {
        gpu.pinned += used;
        // A class change on reload: no budget applies any more.
        entry.resident_budget_bytes.store(state::kNoResidentBudget, std::memory_order_relaxed);
      }
    }
  }

  std::map<std::pair<std::string, int>, Watch> seen;
  for (auto& [b, gpu] : gpus) {
    if (gpu.members.empty()) continue;
    ResidencyInput in;
    in.device_bytes = board.gpus[b].total_memory_bytes.load(std::memory_order_relaxed);
    in.pinned_bytes = gpu.pinned;
    in.headroom = snapshot.control->production_memory_headroom;
    for (const Member& m : gpu.members) {
      in.containers.push_back({m.view->policy->weight, m.managed, m.view->policy->resident_limit_bytes});
    }
    std::vector<uint64_t> budgets = PlanResidency(in);
    std::string uuid = FormatGpuUuid(board.gpus[b].uuid);
    bool production_present = state::ProductionPresent(board.gpus[b]);
    for (size_t i = 0; i < gpu.members.size(); ++i) {
      const Member& m = gpu.members[i];
      auto key = std::make_pair(m.view->key, b);
      bool known = watches_.contains(key);
      Watch w = known ? std::move(watches_[key]) : Watch{};
      uint64_t current = m.entry->resident_budget_bytes.load(std::memory_order_relaxed);
      double since_lowered = known ? std::chrono::duration<double>(snapshot.now - w.lowered).count() : 1e9;
      uint64_t budget = DampedBudget(budgets[i], current, production_present, since_lowered);
      if (budget < current) w.lowered = snapshot.now;
      m.entry->resident_budget_bytes.store(budget, std::memory_order_relaxed);
      w.status.budget = budget;
      w.status.managed = m.managed;
      w.status.resident = m.resident;
      w.status.evicted_total = m.entry->evicted_bytes_total.load(std::memory_order_relaxed);
      w.status.prefetched_total = m.entry->prefetched_bytes_total.load(std::memory_order_relaxed);
      Observe(m.view->key, uuid, w, snapshot.now);
      seen.emplace(key, std::move(w));
    }
  }
  watches_ = std::move(seen);  // departed containers are forgotten
}

}  // namespace tgs::controller
