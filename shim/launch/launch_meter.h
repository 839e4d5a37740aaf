// Metering and gating of kernel launches: the hot path. An opportunistic
// container's launch first passes its launch gate (launch_gate.h); every
// launch then adds its kernel and block counts to this process's slot in the
// container state, which the controller reads to measure throughput. No
// locks, no syscalls, no allocation on an open gate: one driver call to learn
// the current context (a thread-local read in the driver), a thread-local
// cache hit, a relaxed load, two relaxed atomic adds.
#pragma once

#include <cstdint>

#include "shim/control/controller_client.h"
#include "shim/core/runtime.h"
#include "shim/launch/launch_gate.h"

namespace tgs::launch {

struct ThreadLaunchCache {
  CUcontext ctx = nullptr;
  uint32_t generation = ~0u;
  state::ProcessGpuCounters* counters = nullptr;
  state::GpuEntry* gate = nullptr;  // set only for opportunistic containers under tgs-controller
};

// initial-exec: the shim is loaded at process start (preload), so its TLS is
// addressed directly instead of through __tls_get_addr.
extern thread_local ThreadLaunchCache tls_launch_cache __attribute__((tls_model("initial-exec")));

// Fills `cache` for the current context `ctx` (the miss path); false when
// the context's GPU is not accounted.
bool FillCache(CUcontext ctx, ThreadLaunchCache* cache);

inline void Meter(const RealCuda& real, uint64_t kernels, uint64_t blocks) {
  CUcontext ctx = nullptr;
  if (__builtin_expect(real.cuCtxGetCurrent == nullptr, 0) || real.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) return;
  ThreadLaunchCache& cache = tls_launch_cache;
  if (__builtin_expect(ctx != cache.ctx || cache.generation != Runtime::fork_generation() || cache.counters == nullptr,
                       0)) {
    if (!FillCache(ctx, &cache)) return;
  }
  if (cache.gate != nullptr) Admit(*cache.gate, blocks, &control::ControllerConnected);
  cache.counters->kernels.fetch_add(kernels, std::memory_order_relaxed);
  cache.counters->blocks.fetch_add(blocks, std::memory_order_relaxed);
}

inline uint64_t Blocks(unsigned int x, unsigned int y, unsigned int z) {
  return static_cast<uint64_t>(x) * y * z;
}

}  // namespace tgs::launch
