#include "shim/launch/launch_gate.h"

#include <algorithm>

namespace tgs::launch {

void WaitAtGate(state::GpuEntry& gpu, uint64_t blocks, bool (*controller_connected)()) {
  uint64_t rate = GateRate(gpu, controller_connected());
  if (rate == 0) return;
  // Cost of this launch on the virtual timeline: blocks / (rate / 1000) s.
  // A launch of no blocks (a graph, counted separately) costs one block.
  uint64_t cost_blocks = std::max<uint64_t>(blocks, 1);
  int64_t cost_ns = static_cast<int64_t>(
      std::min<long double>(static_cast<long double>(cost_blocks) * 1e12L / rate, 1e12L));
  int64_t now = MonotonicNs();
  int64_t tat = gpu.gate_tat_ns.load(std::memory_order_relaxed);
  int64_t start;
  do {
    // A gate that was idle does not bank more than the burst allowance.
    start = std::max(tat, now - kGateBurstNs);
  } while (!gpu.gate_tat_ns.compare_exchange_weak(tat, start + cost_ns, std::memory_order_relaxed));
  int64_t turn = start;  // may proceed once the timeline reaches its start
  if (turn <= now) return;

  gpu.gate_waits.fetch_add(1, std::memory_order_relaxed);
  int64_t began = now;
  while (now < turn) {
    int64_t until = std::min(turn, now + kGateSliceNs);
    timespec ts{static_cast<time_t>(until / 1'000'000'000), static_cast<long>(until % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    now = MonotonicNs();
    uint64_t current = GateRate(gpu, controller_connected());
    // The controller opened the gate (production went idle): go now.
    if (current == 0) break;
    // A new rate applies to the rest of the wait: a launch reserved at a
    // trickle must not sit out its old turn once the rate is raised. (The
    // controller rescales the shared timeline the same way.)
    if (current != rate && turn > now) {
      turn = now + static_cast<int64_t>(static_cast<long double>(turn - now) * rate / current);
      rate = current;
    }
  }
  gpu.gate_wait_ns.fetch_add(static_cast<uint64_t>(now - began), std::memory_order_relaxed);
}

}  // namespace tgs::launch
