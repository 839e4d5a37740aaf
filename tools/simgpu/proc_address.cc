// cuGetProcAddress: resolves (name, cudaVersion, flags) against the table in
// entry_points.def exactly as the driver does: the newest variant not newer
// than the caller's CUDA version, its per-thread-default-stream twin when
// asked for, SYMBOL_NOT_FOUND for names the driver does not have, and
// VERSION_NOT_SUFFICIENT when every variant is newer than the caller.
#include <cstring>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/proc_address.h"

namespace simgpu {
namespace {

const EntryPoint kEntryPoints[] = {
#define SIMGPU_ENTRY(name, version, symbol) {#name, version, false, reinterpret_cast<void*>(&symbol)},
#define SIMGPU_ENTRY_PT(name, version, symbol) {#name, version, true, reinterpret_cast<void*>(&symbol)},
#include "tools/simgpu/entry_points.def"
#undef SIMGPU_ENTRY
#undef SIMGPU_ENTRY_PT
};

}  // namespace

const EntryPoint* EntryPoints(size_t* count) {
  *count = sizeof kEntryPoints / sizeof kEntryPoints[0];
  return kEntryPoints;
}

CUresult LookupEntryPoint(const char* name, int version, cuuint64_t flags, void** pfn,
                          CUdriverProcAddressQueryResult* status) {
  const EntryPoint* best = nullptr;
  const EntryPoint* best_pt = nullptr;
  bool known = false;
  for (const EntryPoint& e : kEntryPoints) {
    if (std::strcmp(e.name, name) != 0) continue;
    known = true;
    if (e.version > version) continue;
    const EntryPoint*& slot = e.per_thread ? best_pt : best;
    if (slot == nullptr || e.version > slot->version) slot = &e;
  }
  if ((flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0 && best_pt != nullptr) best = best_pt;
  if (best == nullptr) {
    *pfn = nullptr;
    if (status != nullptr) {
      *status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    }
    return CUDA_ERROR_NOT_FOUND;
  }
  *pfn = best->fn;
  if (status != nullptr) *status = CU_GET_PROC_ADDRESS_SUCCESS;
  return CUDA_SUCCESS;
}

}  // namespace simgpu

SIMGPU_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int version, cuuint64_t flags,
                                           CUdriverProcAddressQueryResult* status) {
  if (symbol == nullptr || pfn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  constexpr cuuint64_t kKnownFlags = CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  if ((flags & ~kKnownFlags) != 0) return CUDA_ERROR_INVALID_VALUE;
  return simgpu::LookupEntryPoint(symbol, version, flags, pfn, status);
}

SIMGPU_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
  return cuGetProcAddress_v2(symbol, pfn, version, flags, nullptr);
}
