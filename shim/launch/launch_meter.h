// Metering of kernel launches: the hot path. Every launch adds its kernel
// and block counts to this process's slot in the container state, which the
// controller reads to measure throughput. No locks, no syscalls, no
// allocation: one driver call to learn the current context (a thread-local
// read in the driver), a thread-local cache hit, two relaxed atomic adds.
#pragma once

#include <cstdint>

#include "shim/core/runtime.h"

namespace tgs::launch {

struct ThreadLaunchCache {
  CUcontext ctx = nullptr;
  uint32_t generation = ~0u;
  state::ProcessGpuCounters* counters = nullptr;
};

// initial-exec: the shim is loaded at process start (preload), so its TLS is
// addressed directly instead of through __tls_get_addr.
extern thread_local ThreadLaunchCache tls_launch_cache __attribute__((tls_model("initial-exec")));

// Resolves the counters for the current context (cache miss path).
state::ProcessGpuCounters* CountersForContext(CUcontext ctx);

inline void Meter(const RealCuda& real, uint64_t kernels, uint64_t blocks) {
  CUcontext ctx = nullptr;
  if (__builtin_expect(real.cuCtxGetCurrent == nullptr, 0) || real.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS) return;
  ThreadLaunchCache& cache = tls_launch_cache;
  state::ProcessGpuCounters* counters = cache.counters;
  if (__builtin_expect(ctx != cache.ctx || cache.generation != Runtime::fork_generation() || counters == nullptr, 0)) {
    counters = CountersForContext(ctx);
    if (counters == nullptr) return;
    cache.ctx = ctx;
    cache.generation = Runtime::fork_generation();
    cache.counters = counters;
  }
  counters->kernels.fetch_add(kernels, std::memory_order_relaxed);
  counters->blocks.fetch_add(blocks, std::memory_order_relaxed);
}

inline uint64_t Blocks(unsigned int x, unsigned int y, unsigned int z) {
  return static_cast<uint64_t>(x) * y * z;
}

}  // namespace tgs::launch
