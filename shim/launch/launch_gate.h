// Where an opportunistic kernel launch is gated. tgs-controller sets, per
// container and GPU, the rate (blocks per second) at which the container's
// launches may proceed; every process of the container draws on one shared
// budget. The gate is GCRA ("virtual scheduling"): one atomic timestamp, the
// theoretical arrival time, advanced by each launch's cost; a launch whose
// turn is in the future sleeps until then. Lock-free, and when the gate is
// open (rate 0, production idle or absent) a launch pays one relaxed load.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

#include "shim/state/container_state.h"

namespace tgs::launch {

// How far ahead of its rate a container may run (absorbs launch jitter
// without letting a long-idle container burst unboundedly).
inline constexpr int64_t kGateBurstNs = 2'000'000;
// Sleeps are sliced so that a rate change (the gate opening when production
// goes idle) takes effect within this time.
inline constexpr int64_t kGateSliceNs = 10'000'000;

inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no syscall
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The rate in force: the controller's, or the fallback while it is lost.
inline uint64_t GateRate(const state::GpuEntry& gpu, bool controller_connected) {
  return controller_connected ? gpu.gate_rate_mblocks.load(std::memory_order_relaxed)
                              : gpu.gate_fallback_mblocks.load(std::memory_order_relaxed);
}

// Slow path: reserves this launch's slot on the virtual timeline and waits
// for it. Out of line: only throttled launches get here.
//
// Rate changes: whoever changes a gate's rate from `old` to `current` (both
// non-zero) rescales a future gate_tat_ns to now + (tat - now) * old / current
// (RescaleGate), and a waiting launch rescales its own turn the same way, so
// that a raised rate shortens waits already in progress.
void WaitAtGate(state::GpuEntry& gpu, uint64_t blocks, bool (*controller_connected)());

inline void RescaleGate(state::GpuEntry& gpu, uint64_t old_rate, uint64_t new_rate, int64_t now) {
  if (old_rate == 0 || new_rate == 0 || old_rate == new_rate) return;
  int64_t tat = gpu.gate_tat_ns.load(std::memory_order_relaxed);
  while (tat > now) {
    int64_t scaled = now + static_cast<int64_t>(static_cast<long double>(tat - now) * old_rate / new_rate);
    if (gpu.gate_tat_ns.compare_exchange_weak(tat, scaled, std::memory_order_relaxed)) break;
  }
}

inline void Admit(state::GpuEntry& gpu, uint64_t blocks, bool (*controller_connected)()) {
  if (__builtin_expect(GateRate(gpu, controller_connected()) == 0, 1)) return;
  WaitAtGate(gpu, blocks, controller_connected);
}

}  // namespace tgs::launch
