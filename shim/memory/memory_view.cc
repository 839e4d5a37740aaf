#include "shim/memory/memory_view.h"

#include <algorithm>
#include <climits>

#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"
#include "shim/memory/residency.h"

namespace tgs {

MemoryView VirtualMemoryView(uint64_t real_free, uint64_t real_total, uint64_t limit, uint64_t used,
                             bool oversubscribed) {
  if (limit == 0) return {real_free, real_total};
  uint64_t total = std::min(limit, real_total);
  uint64_t free = used >= total ? 0 : total - used;
  if (!oversubscribed) free = std::min(free, real_free);
  return {free, total};
}

MemoryView ContainerMemoryView(int gpu, uint64_t real_free, uint64_t real_total) {
  state::StateFile* file = Runtime::Get().state_file();
  if (gpu < 0 || file == nullptr) return {real_free, real_total};
  file->ReclaimDeadProcesses();
  return VirtualMemoryView(real_free, real_total, file->LimitBytes(gpu), file->UsedBytes(gpu), residency::Enabled());
}

namespace hooks {

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  CUresult r = CallReal(Runtime::Get().real().cuMemGetInfo_v2, free, total);
  if (r != CUDA_SUCCESS) return r;
  MemoryView view = ContainerMemoryView(Runtime::Get().GpuForCurrentContext(), *free, *total);
  *free = view.free;
  *total = view.total;
  return r;
}

CUresult cuMemGetInfo(unsigned int* free, unsigned int* total) {
  if (free == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t f = 0, t = 0;
  CUresult r = hooks::cuMemGetInfo_v2(&f, &t);
  if (r != CUDA_SUCCESS) return r;
  *free = static_cast<unsigned int>(std::min<size_t>(f, UINT_MAX));
  *total = static_cast<unsigned int>(std::min<size_t>(t, UINT_MAX));
  return r;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  CUresult r = CallReal(Runtime::Get().real().cuDeviceTotalMem_v2, bytes, dev);
  if (r != CUDA_SUCCESS) return r;
  *bytes = ContainerMemoryView(Runtime::Get().GpuForDevice(dev), *bytes, *bytes).total;
  return r;
}

CUresult cuDeviceTotalMem(unsigned int* bytes, CUdevice dev) {
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t b = 0;
  CUresult r = hooks::cuDeviceTotalMem_v2(&b, dev);
  if (r == CUDA_SUCCESS) *bytes = static_cast<unsigned int>(std::min<size_t>(b, UINT_MAX));
  return r;
}

}  // namespace hooks
}  // namespace tgs
