#include "tools/simgpu/memory.h"

#include <sys/mman.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "shim/util/byte_size.h"
#include "shim/util/log.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/registry.h"

namespace simgpu {
namespace {

// Keyed by base address so that interior pointers resolve with one
// upper_bound: frees and lookups are O(log n), never a list walk.
struct AllocationTable {
  std::mutex mu;  // guards by_base
  std::map<uintptr_t, Allocation> by_base;
};
AllocationTable& Table() { return Leaked<AllocationTable>(); }

std::atomic<int> g_managed_allocations{0};

constexpr size_t kPageSize = 4096;
size_t RoundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

}  // namespace

void* MapBacking(size_t bytes) {
  void* p = mmap(nullptr, RoundUp(bytes, kPageSize), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void UnmapBacking(void* p, size_t bytes) { munmap(p, RoundUp(bytes, kPageSize)); }

void InsertAllocation(const Allocation& a) {
  std::lock_guard<std::mutex> guard(Table().mu);
  Table().by_base[a.base] = a;
}

void UpdateAllocation(const Allocation& a) { InsertAllocation(a); }

bool EraseAllocation(uintptr_t base, Allocation* out) {
  std::lock_guard<std::mutex> guard(Table().mu);
  auto it = Table().by_base.find(base);
  if (it == Table().by_base.end()) return false;
  if (out != nullptr) *out = it->second;
  Table().by_base.erase(it);
  return true;
}

bool LookupAllocation(uintptr_t ptr, Allocation* out) {
  std::lock_guard<std::mutex> guard(Table().mu);
  auto& m = Table().by_base;
  auto it = m.upper_bound(ptr);
  if (it == m.begin()) return false;
  --it;
  const Allocation& a = it->second;
  if (ptr >= a.base + (a.size == 0 ? 1 : a.size)) return false;
  if (a.kind == AllocKind::kPoolBlock && !a.in_use) return false;
  *out = a;
  return true;
}

bool RangeIsDevice(uintptr_t ptr, size_t bytes) {
  Allocation a;
  if (!LookupAllocation(ptr, &a)) return false;
  return ptr + bytes <= a.base + a.size;
}

bool HaveManagedAllocations() { return g_managed_allocations.load(std::memory_order_relaxed) > 0; }

CUresult AllocDevice(size_t bytes, AllocKind kind, CUdeviceptr* out) {
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  size_t size = RoundUp(bytes, 512);  // the allocator's minimum alignment
  bool managed = kind == AllocKind::kManaged;
  // Managed memory is populated on first touch, so it never fails for capacity.
  if (!managed && !ChargeDevice(ctx->device, size)) {
    TGS_LOG_INFO("out of memory allocating %s on device %d", tgs::FormatByteSize(bytes).c_str(), ctx->device);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  void* p = MapBacking(bytes);
  Allocation a;
  a.base = reinterpret_cast<uintptr_t>(p);
  if (p == nullptr || (managed && !CreateManagedRange(ctx->device, a.base, size, &a.managed))) {
    if (p != nullptr) UnmapBacking(p, bytes);
    if (!managed) CreditDevice(ctx->device, size);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  a.size = bytes;
  a.mapped = bytes;
  a.charged = managed ? 0 : size;
  a.device = ctx->device;
  a.kind = kind;
  a.ctx = ctx.get();
  InsertAllocation(a);
  if (managed) g_managed_allocations.fetch_add(1, std::memory_order_relaxed);
  *out = a.base;
  return CUDA_SUCCESS;
}

namespace {
// Gives an erased allocation's memory back: its mapping, its charge, and for
// managed memory its residency entry (crediting whatever was resident).
void Release(const Allocation& a) {
  UnmapBacking(reinterpret_cast<void*>(a.base), a.mapped);
  if (a.charged != 0) CreditDevice(a.device, a.charged);
  if (a.kind == AllocKind::kManaged) {
    DropManagedRange(a.managed);
    g_managed_allocations.fetch_sub(1, std::memory_order_relaxed);
  }
}
}  // namespace

CUresult FreeDevice(CUdeviceptr ptr) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (ptr == 0) return CUDA_SUCCESS;  // cuMemFree(0) is a no-op, as cudaFree(nullptr)
  Allocation a;
  {
    std::lock_guard<std::mutex> guard(Table().mu);
    auto it = Table().by_base.find(ptr);
    if (it == Table().by_base.end()) return CUDA_ERROR_INVALID_VALUE;
    a = it->second;
    if (a.kind == AllocKind::kHost || a.kind == AllocKind::kVmmMapping) return CUDA_ERROR_INVALID_VALUE;
    if (a.kind == AllocKind::kPoolBlock && !a.in_use) return CUDA_ERROR_INVALID_VALUE;
    if (a.kind != AllocKind::kPoolBlock) Table().by_base.erase(it);
  }
  if (a.kind == AllocKind::kPoolBlock) {
    PoolFree(ptr);
    return CUDA_SUCCESS;
  }
  Release(a);
  return CUDA_SUCCESS;
}

CUresult AllocHost(size_t bytes, void** out) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  void* p = MapBacking(bytes);
  if (p == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  Allocation a;
  a.base = reinterpret_cast<uintptr_t>(p);
  a.size = bytes;
  a.mapped = bytes;
  a.kind = AllocKind::kHost;
  a.ctx = ctx.get();
  InsertAllocation(a);
  *out = p;
  return CUDA_SUCCESS;
}

CUresult FreeHost(void* ptr) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  Allocation a;
  {
    std::lock_guard<std::mutex> guard(Table().mu);
    auto it = Table().by_base.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == Table().by_base.end() || it->second.kind != AllocKind::kHost) return CUDA_ERROR_INVALID_VALUE;
    a = it->second;
    Table().by_base.erase(it);
  }
  UnmapBacking(ptr, a.mapped);
  return CUDA_SUCCESS;
}

void FreeContextAllocations(Context* ctx) {
  std::vector<Allocation> doomed;
  {
    std::lock_guard<std::mutex> guard(Table().mu);
    auto& m = Table().by_base;
    for (auto it = m.begin(); it != m.end();) {
      const Allocation& a = it->second;
      bool plain = a.kind == AllocKind::kDevice || a.kind == AllocKind::kManaged || a.kind == AllocKind::kHost;
      if (a.ctx == ctx && plain) {
        doomed.push_back(a);
        it = m.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& a : doomed) Release(a);
  FreeContextArrays(ctx);
}

}  // namespace simgpu
