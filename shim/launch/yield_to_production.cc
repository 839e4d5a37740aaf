#include "shim/launch/yield_to_production.h"

#include <time.h>

#include "shim/launch/launch_gate.h"

namespace tgs::launch {
namespace {

void Nap() {
  timespec ts{0, kYieldPollNs};
  nanosleep(&ts, nullptr);
}

bool Capturing(const RealCuda& real, CUstream stream) {
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  return real.cuStreamIsCapturing != nullptr && real.cuStreamIsCapturing(stream, &status) == CUDA_SUCCESS &&
         status != CU_STREAM_CAPTURE_STATUS_NONE;
}

}  // namespace

void YieldToProduction(const RealCuda& real, const state::BoardGpu& board, CUstream stream, state::GpuEntry& gate) {
  // A launch into a capturing stream builds a graph and runs nothing now.
  if (Capturing(real, stream)) return;
  int64_t began = MonotonicNs();
  bool waited = false;
  for (;;) {
    while (state::ProductionBusy(board, MonotonicNs())) {
      waited = true;
      Nap();
    }
    if (!state::YieldRequired(board, MonotonicNs())) break;
    // Our own queued work would run ahead of production's next kernel.
    if (real.cuStreamQuery != nullptr && real.cuStreamQuery(stream) == CUDA_ERROR_NOT_READY) {
      waited = true;
      while (real.cuStreamQuery(stream) == CUDA_ERROR_NOT_READY && !state::ProductionBusy(board, MonotonicNs())) {
        Nap();
      }
      continue;  // production may have started meanwhile
    }
    if (!state::ProductionBusy(board, MonotonicNs())) break;
  }
  if (waited) {
    gate.gate_yields.fetch_add(1, std::memory_order_relaxed);
    gate.gate_yield_ns.fetch_add(static_cast<uint64_t>(MonotonicNs() - began), std::memory_order_relaxed);
  }
}

}  // namespace tgs::launch
