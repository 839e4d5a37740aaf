// Metering and gating of kernel launches: the hot path. An opportunistic
// container's launch first passes its launch gate (launch_gate.h) and, while
// production is on the GPU, waits for production's work (yield_to_production.h);
// a production launch marks production busy on the node board; every launch
// then adds its kernel and block counts to this process's slot in the
// container state, which the controller reads to measure throughput. No
// locks, no syscalls, no allocation for production or on an open gate: one
// driver call to learn the current context (a thread-local read in the
// driver), a thread-local cache hit, a few relaxed loads, two relaxed atomic
// adds (production: one more, and a coarse vDSO clock read).
#pragma once

#include <cstdint>

#include "shim/control/controller_client.h"
#include "shim/core/runtime.h"
#include "shim/launch/launch_gate.h"
#include "shim/launch/yield_to_production.h"
#include "shim/memory/residency.h"

namespace tgs::launch {

struct ThreadLaunchCache {
  CUcontext ctx = nullptr;
  uint32_t generation = ~0u;
  state::ProcessGpuCounters* counters = nullptr;
  state::GpuEntry* gate = nullptr;  // set only for opportunistic containers under tgs-controller
  state::BoardGpu* board = nullptr;  // this GPU on the node board (under tgs-controller)
  std::atomic<bool>* production_inflight = nullptr;  // production processes only
  int gpu = -1;  // the container GPU entry of `ctx`
};

// initial-exec: the shim is loaded at process start (preload), so its TLS is
// addressed directly instead of through __tls_get_addr.
extern thread_local ThreadLaunchCache tls_launch_cache __attribute__((tls_model("initial-exec")));

// Fills `cache` for the current context `ctx` (the miss path); false when
// the context's GPU is not accounted.
bool FillCache(CUcontext ctx, ThreadLaunchCache* cache);

// Out of line: the first launch after a synchronisation.
void MarkProductionBusy(std::atomic<bool>& inflight, state::BoardGpu& board);

inline int64_t CoarseMonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // vDSO, a few ns; resolution one tick (1-4 ms)
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Production: the blocks, then the instant (the controller reads the pair to
// measure production's rate between launches; node_board.h). The coarse
// clock is enough there (rates are judged over half a second or more) and
// costs a fraction of the precise one; the instant is stored only when the
// tick moved, so a burst of launches writes it once.
inline void NoteProductionLaunch(std::atomic<bool>& inflight, state::BoardGpu& board, uint64_t blocks) {
  board.production_blocks.fetch_add(blocks, std::memory_order_relaxed);
  int64_t now = CoarseMonotonicNs();
  if (board.production_last_launch_ns.load(std::memory_order_relaxed) != now) {
    board.production_last_launch_ns.store(now, std::memory_order_release);
  }
  if (__builtin_expect(!inflight.load(std::memory_order_relaxed), 0)) MarkProductionBusy(inflight, board);
}

// Opportunistic: the gate's rate, then production's work (slow paths), then
// the placement of its unified memory when the budget moved (residency.h).
inline void AdmitOpportunistic(const RealCuda& real, const ThreadLaunchCache& cache, uint64_t blocks,
                               CUstream stream) {
  Admit(*cache.gate, blocks, &control::ControllerConnected);
  residency::OnLaunch(cache.gpu, *cache.gate, stream);
  if (cache.board != nullptr && state::YieldRequired(*cache.board, MonotonicNs())) {
    YieldToProduction(real, *cache.board, stream, *cache.gate);
  }
}

// `stream` as given to the launch; `per_thread` for the _ptsz entry points,
// where stream 0 means the calling thread's default stream.
inline void Meter(const RealCuda& real, uint64_t kernels, uint64_t blocks, CUstream stream = nullptr,
                  bool per_thread = false) {
  CUcontext ctx = nullptr;
  if (__builtin_expect(real.cuCtxGetCurrent == nullptr, 0) || real.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) return;
  ThreadLaunchCache& cache = tls_launch_cache;
  if (__builtin_expect(ctx != cache.ctx || cache.generation != Runtime::fork_generation() || cache.counters == nullptr,
                       0)) {
    if (!FillCache(ctx, &cache)) return;
  }
  if (cache.gate != nullptr) {
    AdmitOpportunistic(real, cache, blocks, stream == nullptr && per_thread ? CU_STREAM_PER_THREAD : stream);
  } else if (cache.production_inflight != nullptr) {
    NoteProductionLaunch(*cache.production_inflight, *cache.board, blocks);
  }
  cache.counters->kernels.fetch_add(kernels, std::memory_order_relaxed);
  cache.counters->blocks.fetch_add(blocks, std::memory_order_relaxed);
}

inline uint64_t Blocks(unsigned int x, unsigned int y, unsigned int z) {
  return static_cast<uint64_t>(x) * y * z;
}

}  // namespace tgs::launch
