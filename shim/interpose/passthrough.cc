// Resolution of the generated libcuda pass-through trampolines (one per
// cuda.h entry point the shim does not hook). Each trampoline jumps through
// tgs_cuda_passthrough_table; until the first call the table points at lazy
// stubs that land here, so a process that never uses CUDA (every process of a
// container gets the shim through /etc/ld.so.preload) never loads the driver.
#include <cstdint>
#include <mutex>

#include "shim/core/runtime.h"
#include "shim/interpose/passthrough_table.h"

extern "C" {
extern void* tgs_cuda_passthrough_table[];
extern const char* const tgs_cuda_passthrough_names[];
extern const uint32_t tgs_cuda_passthrough_count;

// Stand-ins for entry points the loaded driver lacks (an older driver) or
// when no driver could be loaded. The x86-64 calling convention lets a
// no-argument function stand in for any CUresult function.
__attribute__((visibility("hidden"))) CUresult tgs_cuda_symbol_missing() { return CUDA_ERROR_NOT_FOUND; }
__attribute__((visibility("hidden"))) CUresult tgs_cuda_driver_missing() { return CUDA_ERROR_NOT_INITIALIZED; }

__attribute__((visibility("hidden"))) void* tgs_cuda_passthrough_resolve(uint32_t index) {
  static std::once_flag once;
  std::call_once(once, [] {
    tgs::FillPassthroughTable(tgs::Runtime::Get().real().handle, tgs_cuda_passthrough_table,
                              tgs_cuda_passthrough_names, tgs_cuda_passthrough_count,
                              reinterpret_cast<void*>(&tgs_cuda_symbol_missing),
                              reinterpret_cast<void*>(&tgs_cuda_driver_missing));
  });
  return __atomic_load_n(&tgs_cuda_passthrough_table[index], __ATOMIC_ACQUIRE);
}
}
