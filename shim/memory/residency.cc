#include "shim/memory/residency.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "shim/core/runtime.h"
#include "shim/util/byte_size.h"
#include "shim/util/log.h"

namespace tgs::residency {
namespace internal {
std::atomic<uint32_t> ranges_on_gpu[state::kMaxGpus];
std::atomic<uint64_t> placed_for_budget[state::kMaxGpus];
}  // namespace internal

namespace {

struct Range {
  uint64_t seq;  // allocation order: older ranges are placed on the GPU first
  size_t bytes;
  int gpu;
  CUdevice device;
  bool on_device;  // placed within the budget (else preferred on the host)
};

struct Ranges {
  std::mutex mu;  // guards everything below; never taken on the launch path
  std::map<CUdeviceptr, Range> by_ptr;
  uint64_t next_seq = 0;
  uint64_t placed[state::kMaxGpus] = {};  // bytes of on_device ranges, per GPU
};

Ranges& Table() {
  static auto* ranges = new Ranges();  // leaked: frees may run during exit
  return *ranges;
}

const RealCuda& Real() { return Runtime::Get().real(); }

CUmemLocation DeviceLocation(CUdevice device) {
  CUmemLocation loc{};
  loc.type = CU_MEM_LOCATION_TYPE_DEVICE;
  loc.id = device;
  return loc;
}

CUmemLocation HostLocation() {
  CUmemLocation loc{};
  loc.type = CU_MEM_LOCATION_TYPE_HOST;
  return loc;
}

void Advise(CUdeviceptr ptr, size_t bytes, CUmem_advise advice, CUmemLocation loc) {
  CUresult r = CallReal(Real().cuMemAdvise_v2, ptr, bytes, advice, loc);
  if (r != CUDA_SUCCESS) TGS_LOG_DEBUG("cuMemAdvise(%d) on a managed range failed: %d", static_cast<int>(advice), r);
}

// Queued on `stream` so it is ordered before the kernel that needs it.
bool Prefetch(CUdeviceptr ptr, size_t bytes, CUmemLocation loc, CUstream stream) {
  CUresult r = CallReal(Real().cuMemPrefetchAsync_v2, ptr, bytes, loc, 0u, stream);
  if (r != CUDA_SUCCESS) TGS_LOG_DEBUG("cuMemPrefetchAsync of a managed range failed: %d", r);
  return r == CUDA_SUCCESS;
}

// This process's share of the container's budget on `gpu`, in proportion to
// its managed bytes (processes of one container rarely both hold much).
uint64_t ShareOfBudget(int gpu, uint64_t budget) {
  if (budget == state::kNoResidentBudget) return state::kNoResidentBudget;
  Runtime& rt = Runtime::Get();
  state::ProcessSlot* own = rt.process_slot();
  state::StateFile* file = rt.state_file();
  if (own == nullptr || file == nullptr) return budget;
  uint64_t mine = own->gpu[gpu].managed_bytes.load(std::memory_order_relaxed);
  uint64_t all = 0;
  for (const state::ProcessSlot& slot : file->state().processes) {
    if (slot.pid.load(std::memory_order_relaxed) != 0) all += slot.gpu[gpu].managed_bytes.load(std::memory_order_relaxed);
  }
  if (all <= budget || all == 0) return state::kNoResidentBudget;
  return static_cast<uint64_t>(static_cast<long double>(budget) * mine / all);
}

void PublishPlaced(int gpu, uint64_t placed) {
  if (state::ProcessSlot* slot = Runtime::Get().process_slot()) {
    slot->gpu[gpu].placed_resident_bytes.store(placed, std::memory_order_relaxed);
  }
}

void AddManaged(int gpu, int64_t delta) {
  if (state::ProcessSlot* slot = Runtime::Get().process_slot()) {
    slot->gpu[gpu].managed_bytes.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  }
}

// A new range goes on the GPU if it fits in what is left of the share;
// otherwise it is preferred on the host from the start (nothing to move).
void PlaceNewLocked(Ranges& t, CUdeviceptr ptr, Range range) {
  state::GpuEntry& entry = Runtime::Get().state_file()->state().gpus[range.gpu];
  Advise(ptr, range.bytes, CU_MEM_ADVISE_SET_ACCESSED_BY, DeviceLocation(range.device));
  uint64_t budget = entry.resident_budget_bytes.load(std::memory_order_relaxed);
  uint64_t share = ShareOfBudget(range.gpu, budget);
  range.on_device = share == state::kNoResidentBudget || t.placed[range.gpu] + range.bytes <= share;
  if (range.on_device) {
    t.placed[range.gpu] += range.bytes;
  } else {
    Advise(ptr, range.bytes, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, HostLocation());
  }
  t.by_ptr[ptr] = range;
  if (internal::ranges_on_gpu[range.gpu].fetch_add(1, std::memory_order_relaxed) == 0) {
    internal::placed_for_budget[range.gpu].store(budget, std::memory_order_relaxed);
  }
  PublishPlaced(range.gpu, t.placed[range.gpu]);
}

}  // namespace

bool Enabled() {
  Runtime& rt = Runtime::Get();
  return rt.under_controller() && rt.policy().oversubscribe &&
         rt.policy().kind == protocol::ClassKind::kOpportunistic;
}

CUresult AllocateManaged(int gpu, size_t bytes, CUdeviceptr* dptr) {
  CUresult r = CallReal(Real().cuMemAllocManaged, dptr, bytes, static_cast<unsigned>(CU_MEM_ATTACH_GLOBAL));
  if (r == CUDA_SUCCESS) Track(gpu, *dptr, bytes);
  return r;
}

void Track(int gpu, CUdeviceptr ptr, size_t bytes) {
  if (gpu < 0 || gpu >= state::kMaxGpus || Runtime::Get().state_file() == nullptr) return;
  CUdevice device = 0;
  if (CallReal(Real().cuCtxGetDevice, &device) != CUDA_SUCCESS) return;
  AddManaged(gpu, static_cast<int64_t>(bytes));
  Ranges& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  PlaceNewLocked(t, ptr, Range{t.next_seq++, bytes, gpu, device, true});
}

void Forget(CUdeviceptr ptr) {
  Ranges& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_ptr.find(ptr);
  if (it == t.by_ptr.end()) return;
  const Range& r = it->second;
  if (r.on_device) t.placed[r.gpu] -= r.bytes;
  AddManaged(r.gpu, -static_cast<int64_t>(r.bytes));
  PublishPlaced(r.gpu, t.placed[r.gpu]);
  internal::ranges_on_gpu[r.gpu].fetch_sub(1, std::memory_order_relaxed);
  t.by_ptr.erase(it);
}

bool IsManaged(CUdeviceptr ptr) {
  Ranges& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_ptr.upper_bound(ptr);
  if (it == t.by_ptr.begin()) return false;
  --it;
  return ptr < it->first + it->second.bytes;
}

void NoteDeviceFallback(int gpu, const char* api) {
  if (gpu >= 0 && gpu < state::kMaxGpus && Runtime::Get().state_file() != nullptr) {
    Runtime::Get().state_file()->state().gpus[gpu].device_fallbacks.fetch_add(1, std::memory_order_relaxed);
  }
  // Logged once per entry point. `api` is a string literal per call site, so
  // its address names it: a short lock-free table, no allocation (pools
  // allocate often).
  static std::atomic<const char*> logged[16];
  for (std::atomic<const char*>& slot : logged) {
    const char* seen = slot.load(std::memory_order_acquire);
    if (seen == api) return;
    if (seen == nullptr && slot.compare_exchange_strong(seen, api, std::memory_order_acq_rel)) break;
    if (seen == api) return;  // another thread logged it just now
  }
  TGS_LOG_INFO("%s cannot be served as unified memory; it stays device memory within the container's limit and "
               "is never evicted",
               api);
}

namespace internal {

void Replace(int gpu, state::GpuEntry& entry, CUstream stream) {
  // A prefetch queued into a capturing stream would become part of the
  // graph; the next launch outside capture places instead.
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  if (CallReal(Real().cuStreamIsCapturing, stream, &capture) == CUDA_SUCCESS &&
      capture != CU_STREAM_CAPTURE_STATUS_NONE) {
    return;
  }
  Ranges& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  uint64_t budget = entry.resident_budget_bytes.load(std::memory_order_relaxed);
  uint64_t share = ShareOfBudget(gpu, budget);
  std::vector<std::pair<CUdeviceptr, Range*>> ranges;
  for (auto& [ptr, r] : t.by_ptr) {
    if (r.gpu == gpu) ranges.emplace_back(ptr, &r);
  }
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.second->seq < b.second->seq; });
  // First fit, oldest first: long-lived ranges (weights, optimiser state)
  // come before the churn of activations.
  uint64_t placed = 0, evicted = 0, prefetched = 0;
  for (auto& [ptr, r] : ranges) {
    bool fits = share == state::kNoResidentBudget || placed + r->bytes <= share;
    if (fits) placed += r->bytes;
    if (fits == r->on_device) continue;
    if (fits) {
      Advise(ptr, r->bytes, CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION, HostLocation());
      if (Prefetch(ptr, r->bytes, DeviceLocation(r->device), stream)) prefetched += r->bytes;
    } else {
      Advise(ptr, r->bytes, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, HostLocation());
      if (Prefetch(ptr, r->bytes, HostLocation(), stream)) evicted += r->bytes;
    }
    r->on_device = fits;
  }
  t.placed[gpu] = placed;
  PublishPlaced(gpu, placed);
  placed_for_budget[gpu].store(budget, std::memory_order_relaxed);
  entry.evicted_bytes_total.fetch_add(evicted, std::memory_order_relaxed);
  entry.prefetched_bytes_total.fetch_add(prefetched, std::memory_order_relaxed);
  entry.placements.fetch_add(1, std::memory_order_relaxed);
  if (evicted != 0 || prefetched != 0) {
    TGS_LOG_DEBUG("resident budget %s: %s on the GPU, %s moved to the host, %s back to the GPU",
                  budget == state::kNoResidentBudget ? "unlimited" : FormatByteSize(budget).c_str(),
                  FormatByteSize(placed).c_str(), FormatByteSize(evicted).c_str(), FormatByteSize(prefetched).c_str());
  }
}

}  // namespace internal
}  // namespace tgs::residency
