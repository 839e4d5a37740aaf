// Where an opportunistic launch waits for production. The device runs one
// kernel at a time across processes, so an opportunistic kernel the GPU
// starts while production has work queued delays production by that whole
// kernel; a rate limit cannot prevent it, only make it rarer. While a
// production process is registered on the GPU (node_board.h), an
// opportunistic launch therefore
//   1. waits while production has work in flight, and
//   2. first lets its own stream drain, so that at most this one kernel (or
//      graph) can stand between production's next launch and the device.
// Both waits are on the opportunistic side only: production's launch path
// never waits and never makes a call for this.
#pragma once

#include "shim/driver/real_cuda.h"
#include "shim/state/container_state.h"
#include "shim/state/node_board.h"

namespace tgs::launch {

// How often a waiting launch looks at the board again.
inline constexpr int64_t kYieldPollNs = 50'000;

// `stream` as the launch named it (CU_STREAM_PER_THREAD for a _ptsz launch on
// stream 0). Accounts the wait in `gate` (gate_yields, gate_yield_ns).
void YieldToProduction(const RealCuda& real, const state::BoardGpu& board, CUstream stream, state::GpuEntry& gate);

}  // namespace tgs::launch
