// Per-process view of simulated device memory. Every allocation is backed by
// an anonymous MAP_NORESERVE mapping (huge allocations cost no RAM until
// touched) whose address is the device pointer, so copies and memsets are
// real; capacity is charged to the shared device model (ledger.h).
//
// Managed allocations are charged nothing here: each names a range in the
// shared residency table (residency.h) whose resident bytes count as device
// usage once kernels or prefetches bring them in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/residency.h"

struct CUmemPoolHandle_st {};
struct CUarray_st {};
struct CUmipmappedArray_st {};

namespace simgpu {

struct Context;
struct Pool;

enum class AllocKind { kDevice, kManaged, kHost, kPoolBlock, kVmmMapping };

struct Allocation {
  uintptr_t base = 0;
  size_t size = 0;         // bytes the caller asked for (the address range)
  size_t mapped = 0;       // bytes mapped (>= size)
  size_t charged = 0;      // bytes charged to `device`
  int device = -1;         // -1 for host memory
  AllocKind kind = AllocKind::kDevice;
  Context* ctx = nullptr;  // owning context, for cleanup at cuCtxDestroy
  Pool* pool = nullptr;    // kPoolBlock
  bool in_use = true;      // kPoolBlock: false while parked in the pool
  ManagedHandle managed;   // kManaged: its residency entry
};

// Device memory for the current context (cuMemAlloc, pitch, managed).
CUresult AllocDevice(size_t bytes, AllocKind kind, CUdeviceptr* out);
// Whether this process holds any managed allocation: launches skip reading
// their arguments when it does not.
bool HaveManagedAllocations();
CUresult FreeDevice(CUdeviceptr ptr);
CUresult AllocHost(size_t bytes, void** out);
CUresult FreeHost(void* ptr);
void FreeContextAllocations(Context* ctx);

// Finds the allocation containing `ptr`; false when none does.
bool LookupAllocation(uintptr_t ptr, Allocation* out);
// True when [ptr, ptr+bytes) lies inside one known allocation, or is host memory
// the simulator does not track (pageable memory passed to copies).
bool RangeIsDevice(uintptr_t ptr, size_t bytes);

// Records/forgets an address range in the table (used by VMM and pools).
void InsertAllocation(const Allocation& a);
bool EraseAllocation(uintptr_t base, Allocation* out);
void UpdateAllocation(const Allocation& a);

void* MapBacking(size_t bytes);
void UnmapBacking(void* p, size_t bytes);

// Stream-ordered pools (pool.cc).
std::shared_ptr<Pool> FindPool(CUmemoryPool handle);
CUmemoryPool DefaultPool(int device);
// Device a pool lives on, -1 for an unknown handle.
int PoolDevice(CUmemoryPool pool);
CUmemoryPool CurrentPool(int device);
void SetCurrentPool(int device, CUmemoryPool pool);
CUresult CreatePool(const CUmemPoolProps* props, CUmemoryPool* out);
CUresult DestroyPool(CUmemoryPool pool);
CUresult PoolAlloc(CUmemoryPool pool, size_t bytes, CUdeviceptr* out);
// Returns a block to its pool (stream-ordered free executes this).
void PoolFree(uintptr_t ptr);
CUresult PoolTrim(CUmemoryPool pool, size_t keep);
CUresult PoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value);
CUresult PoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void* value);
// At synchronisation points pools give back free blocks above their
// threshold (all pools: a pool on another device may hold frees this sync waited for).
void ReleasePoolsOverThreshold();

// CUDA arrays (array.cc).
CUresult CreateArray(const CUDA_ARRAY3D_DESCRIPTOR* desc, unsigned levels, bool mipmapped, void** out);
CUresult DestroyArray(void* handle, bool mipmapped);
CUresult ArrayDescriptor(void* handle, CUDA_ARRAY3D_DESCRIPTOR* out);
void FreeContextArrays(Context* ctx);

}  // namespace simgpu
