#include "controller/status/collect_status.h"

#include <algorithm>

#include "shim/util/gpu_uuid.h"

namespace tgs::controller {
namespace {

double Rate(uint64_t milliblocks) {
  return milliblocks == 0 ? kNoLimit : static_cast<double>(milliblocks) / 1000.0;
}

std::string Label(const policy::ContainerIdentity* identity, const char* key) {
  if (identity == nullptr) return "";
  auto it = identity->labels.find(key);
  return it == identity->labels.end() ? "" : it->second;
}

}  // namespace

int FindGpuReport(const NodeStatus& status, const uint8_t uuid[16]) {
  std::string text = FormatGpuUuid(uuid);
  for (size_t i = 0; i < status.gpus.size(); ++i) {
    if (status.gpus[i].uuid == text) return static_cast<int>(i);
  }
  return -1;
}

void CollectNodeStatus(const RegistrySnapshot& snapshot, NodeStatus* out) {
  if (snapshot.board != nullptr) {
    for (const state::BoardGpu& g : snapshot.board->gpus) {
      if (g.claimed.load(std::memory_order_acquire) != 1) continue;
      GpuReport r;
      r.uuid = FormatGpuUuid(g.uuid);
      r.memory_total_bytes = g.total_memory_bytes.load(std::memory_order_relaxed);
      r.production_processes = static_cast<int>(g.production_processes.load(std::memory_order_relaxed));
      out->gpus.push_back(std::move(r));
    }
  }
  for (const ContainerView& c : snapshot.containers) {
    // A container whose processes are all gone is not reported, so that it
    // leaves /metrics at the next interval (the registry forgets it later).
    if (c.connected_processes == 0 && c.occupied_slots == 0) continue;
    ContainerReport report;
    report.container = c.key;
    report.class_name = c.policy->class_name;
    report.kind = std::string(policy::KindName(c.policy->kind));
    report.weight = c.policy->weight;
    report.oversubscribe = c.policy->oversubscribe && c.policy->kind == policy::Kind::kOpportunistic;
    report.memory_limit_bytes = c.policy->memory_limit_bytes;
    report.resident_limit_bytes = c.policy->resident_limit_bytes;
    report.matched_by = c.policy->MatchedBy();
    report.processes = c.connected_processes;
    report.namespace_name = Label(c.identity, kNamespaceLabel);
    report.pod = Label(c.identity, kPodLabel);
    report.container_name = Label(c.identity, kContainerNameLabel);
    out->containers.push_back(std::move(report));

    state::ContainerState& s = c.file->state();
    for (int g = 0; g < state::kMaxGpus; ++g) {
      state::GpuEntry& e = s.gpus[g];
      if (e.claimed.load(std::memory_order_acquire) != 1) continue;
      int gpu = FindGpuReport(*out, e.uuid);
      if (gpu < 0) {  // a GPU not on the board (no shim of it registered since the start)
        GpuReport r;
        r.uuid = FormatGpuUuid(e.uuid);
        out->gpus.push_back(std::move(r));
        gpu = static_cast<int>(out->gpus.size()) - 1;
      }
      ContainerOnGpu p;
      p.container = c.key;
      p.gpu = gpu;
      p.used_bytes = e.used_bytes.load(std::memory_order_relaxed);
      p.limit_bytes = e.limit_bytes.load(std::memory_order_relaxed);
      p.peak_bytes = e.peak_bytes.load(std::memory_order_relaxed);
      p.oom_refusals = e.oom_refusals.load(std::memory_order_relaxed);
      p.kernels = e.retired_kernels.load(std::memory_order_relaxed);
      p.blocks = e.retired_blocks.load(std::memory_order_relaxed);
      for (const state::ProcessSlot& slot : s.processes) {
        p.kernels += slot.gpu[g].kernels.load(std::memory_order_relaxed);
        p.blocks += slot.gpu[g].blocks.load(std::memory_order_relaxed);
        if (slot.pid.load(std::memory_order_relaxed) == 0) continue;
        p.unified_bytes += slot.gpu[g].managed_bytes.load(std::memory_order_relaxed);
        p.resident_bytes += slot.gpu[g].placed_resident_bytes.load(std::memory_order_relaxed);
      }
      p.gate_waits = e.gate_waits.load(std::memory_order_relaxed);
      p.gate_wait_seconds = static_cast<double>(e.gate_wait_ns.load(std::memory_order_relaxed)) / 1e9;
      p.yields = e.gate_yields.load(std::memory_order_relaxed);
      p.yield_wait_seconds = static_cast<double>(e.gate_yield_ns.load(std::memory_order_relaxed)) / 1e9;
      bool production = c.policy->kind == policy::Kind::kProduction;
      p.gate_blocks_per_second = production ? kNoLimit : Rate(e.gate_rate_mblocks.load(std::memory_order_relaxed));
      p.oversubscribed = out->containers.back().oversubscribe;
      p.unified_bytes = std::min(p.unified_bytes, p.used_bytes);
      p.resident_bytes = std::min(p.resident_bytes, p.unified_bytes);
      uint64_t budget = e.resident_budget_bytes.load(std::memory_order_relaxed);
      p.has_resident_budget = p.oversubscribed && budget != state::kNoResidentBudget;
      p.resident_budget_bytes = p.has_resident_budget ? budget : 0;
      p.moved_to_host_bytes = e.evicted_bytes_total.load(std::memory_order_relaxed);
      p.moved_to_gpu_bytes = e.prefetched_bytes_total.load(std::memory_order_relaxed);
      p.device_fallbacks = e.device_fallbacks.load(std::memory_order_relaxed);
      // A process claims every GPU it can see; only those the container
      // uses (memory, launches) are reported, which keeps series per
      // container small on many-GPU nodes.
      if (p.used_bytes == 0 && p.kernels == 0 && p.oom_refusals == 0) continue;
      out->placements.push_back(std::move(p));
    }
  }
}

}  // namespace tgs::controller
