// Stream-ordered memory pools. Freed blocks stay reserved in their pool (and
// charged to the device) until a synchronisation finds the pool above its
// release threshold, or cuMemPoolTrimTo trims it, as the real driver does.
#include <map>
#include <mutex>

#include "tools/simgpu/driver.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/registry.h"

namespace simgpu {

struct Pool : CUmemPoolHandle_st {
  int device = 0;
  CUmemPoolProps props{};
  std::mutex mu;  // guards everything below
  uint64_t threshold = 0;
  uint64_t reserved = 0;
  uint64_t used = 0;
  uint64_t reserved_high = 0;
  uint64_t used_high = 0;
  int reuse[3] = {1, 1, 1};
  std::multimap<size_t, uintptr_t> free_blocks;  // block size -> base
  bool destroyed = false;
};

namespace {

struct PoolTable {
  std::mutex mu;  // guards defaults, current
  std::shared_ptr<Pool> defaults[kMaxDevices];
  CUmemoryPool current[kMaxDevices] = {};
};
PoolTable& Pools() { return Leaked<PoolTable>(); }
Registry<Pool>& PoolRegistry() { return Leaked<Registry<Pool>>(); }

size_t RoundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

// Pool lock held.
void ReleaseBlockLocked(Pool& pool, std::multimap<size_t, uintptr_t>::iterator it) {
  size_t size = it->first;
  uintptr_t base = it->second;
  pool.free_blocks.erase(it);
  EraseAllocation(base, nullptr);
  UnmapBacking(reinterpret_cast<void*>(base), size);
  CreditDevice(pool.device, size);
  pool.reserved -= size;
}

void ReleaseDownToLocked(Pool& pool, uint64_t keep) {
  while (pool.reserved > keep && !pool.free_blocks.empty()) ReleaseBlockLocked(pool, std::prev(pool.free_blocks.end()));
}

std::shared_ptr<Pool> MakePool(int device) {
  auto p = std::make_shared<Pool>();
  p->device = device;
  p->props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  p->props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p->props.location.id = device;
  PoolRegistry().Add(p);
  return p;
}

}  // namespace

std::shared_ptr<Pool> FindPool(CUmemoryPool handle) { return PoolRegistry().Find(handle); }

CUmemoryPool DefaultPool(int device) {
  auto& t = Pools();
  std::lock_guard<std::mutex> guard(t.mu);
  if (t.defaults[device] == nullptr) t.defaults[device] = MakePool(device);
  return t.defaults[device].get();
}

int PoolDevice(CUmemoryPool handle) {
  auto p = FindPool(handle);
  return p == nullptr ? -1 : p->device;
}

CUmemoryPool CurrentPool(int device) {
  {
    std::lock_guard<std::mutex> guard(Pools().mu);
    if (Pools().current[device] != nullptr) return Pools().current[device];
  }
  return DefaultPool(device);
}

void SetCurrentPool(int device, CUmemoryPool pool) {
  std::lock_guard<std::mutex> guard(Pools().mu);
  Pools().current[device] = pool;
}

CUresult CreatePool(const CUmemPoolProps* props, CUmemoryPool* out) {
  if (props == nullptr || out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (props->location.type != CU_MEM_LOCATION_TYPE_DEVICE || !ValidDevice(props->location.id)) {
    return CUDA_ERROR_NOT_SUPPORTED;  // host-located pools are not modelled
  }
  auto p = MakePool(props->location.id);
  p->props = *props;
  *out = p.get();
  return CUDA_SUCCESS;
}

CUresult DestroyPool(CUmemoryPool handle) {
  auto p = FindPool(handle);
  if (p == nullptr) return CUDA_ERROR_INVALID_VALUE;
  {
    std::lock_guard<std::mutex> guard(Pools().mu);
    for (auto& d : Pools().defaults) {
      if (d.get() == p.get()) return CUDA_ERROR_INVALID_VALUE;  // default pools cannot be destroyed
    }
    for (auto& c : Pools().current) {
      if (c == handle) c = nullptr;
    }
  }
  PoolRegistry().Remove(handle);
  std::lock_guard<std::mutex> guard(p->mu);
  // Blocks still in use are released when freed (see PoolFree).
  ReleaseDownToLocked(*p, 0);
  p->destroyed = true;
  return CUDA_SUCCESS;
}

CUresult PoolAlloc(CUmemoryPool handle, size_t bytes, CUdeviceptr* out) {
  if (out == nullptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  auto p = FindPool(handle);
  if (p == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t size = RoundUp(bytes, 512);
  std::lock_guard<std::mutex> guard(p->mu);
  // Reuse a parked block that is not wastefully large.
  auto it = p->free_blocks.lower_bound(size);
  if (it != p->free_blocks.end() && it->first <= 2 * size) {
    size_t block = it->first;
    uintptr_t base = it->second;
    p->free_blocks.erase(it);
    Allocation a;
    a.base = base;
    a.size = bytes;
    a.mapped = block;
    a.charged = block;
    a.device = p->device;
    a.kind = AllocKind::kPoolBlock;
    a.pool = p.get();
    UpdateAllocation(a);
    p->used += block;
    p->used_high = std::max(p->used_high, p->used);
    *out = base;
    return CUDA_SUCCESS;
  }
  if (!ChargeDevice(p->device, size)) {
    // The pool gives back its own parked memory before reporting OOM.
    ReleaseDownToLocked(*p, 0);
    if (!ChargeDevice(p->device, size)) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  void* mem = MapBacking(size);
  if (mem == nullptr) {
    CreditDevice(p->device, size);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  Allocation a;
  a.base = reinterpret_cast<uintptr_t>(mem);
  a.size = bytes;
  a.mapped = size;
  a.charged = size;
  a.device = p->device;
  a.kind = AllocKind::kPoolBlock;
  a.pool = p.get();
  InsertAllocation(a);
  p->reserved += size;
  p->used += size;
  p->reserved_high = std::max(p->reserved_high, p->reserved);
  p->used_high = std::max(p->used_high, p->used);
  *out = a.base;
  return CUDA_SUCCESS;
}

void PoolFree(uintptr_t ptr) {
  Allocation a;
  if (!LookupAllocation(ptr, &a) || a.base != ptr || a.kind != AllocKind::kPoolBlock) return;
  Pool* pool = a.pool;
  std::lock_guard<std::mutex> guard(pool->mu);
  pool->used -= a.charged;
  if (pool->destroyed) {
    EraseAllocation(a.base, nullptr);
    UnmapBacking(reinterpret_cast<void*>(a.base), a.mapped);
    CreditDevice(pool->device, a.charged);
    pool->reserved -= a.charged;
    return;
  }
  a.in_use = false;
  UpdateAllocation(a);
  pool->free_blocks.emplace(a.charged, a.base);
}

CUresult PoolTrim(CUmemoryPool handle, size_t keep) {
  auto p = FindPool(handle);
  if (p == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(p->mu);
  ReleaseDownToLocked(*p, keep);
  return CUDA_SUCCESS;
}

void ReleasePoolsOverThreshold() {
  auto pools = PoolRegistry().Select([](Pool&) { return true; });
  for (auto& p : pools) {
    std::lock_guard<std::mutex> guard(p->mu);
    ReleaseDownToLocked(*p, p->threshold);
  }
}

CUresult PoolSetAttribute(CUmemoryPool handle, CUmemPool_attribute attr, void* value) {
  auto p = FindPool(handle);
  if (p == nullptr || value == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(p->mu);
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      p->reuse[attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES] = *static_cast<int*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
      p->threshold = *static_cast<cuuint64_t*>(value);
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
      if (*static_cast<cuuint64_t*>(value) != 0) return CUDA_ERROR_INVALID_VALUE;
      p->reserved_high = p->reserved;
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      if (*static_cast<cuuint64_t*>(value) != 0) return CUDA_ERROR_INVALID_VALUE;
      p->used_high = p->used;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult PoolGetAttribute(CUmemoryPool handle, CUmemPool_attribute attr, void* value) {
  auto p = FindPool(handle);
  if (p == nullptr || value == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> guard(p->mu);
  auto* u64 = static_cast<cuuint64_t*>(value);
  switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
      *static_cast<int*>(value) = p->reuse[attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES];
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
      *u64 = p->threshold;
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
      *u64 = p->reserved;
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
      *u64 = p->reserved_high;
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
      *u64 = p->used;
      return CUDA_SUCCESS;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
      *u64 = p->used_high;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

}  // namespace simgpu
