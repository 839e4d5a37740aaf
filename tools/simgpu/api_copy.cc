// Exported entry points: copies and memsets. Device memory is host memory
// here, so each is a real memcpy/memset executed in stream order: the
// synchronous forms run on the legacy (or per-thread, _ptds) stream and wait.
#include <cstring>
#include <functional>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/stream.h"

using namespace simgpu;

namespace {

CUresult Submit(CUstream handle, bool per_thread, bool wait, std::function<void()> work) {
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(handle, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  Op op;
  op.kind = Op::kWork;
  op.work = std::move(work);
  if (CUresult rc = Enqueue(s, std::move(op)); rc != CUDA_SUCCESS) return rc;
  if (!wait) return CUDA_SUCCESS;
  // A synchronous copy returns when it is done, not when the whole stream is.
  std::unique_lock<std::mutex> lock(s->mu);
  if (s->capture != nullptr) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  uint64_t target = s->submitted;
  s->done_cv.wait(lock, [&] { return s->completed >= target; });
  return CUDA_SUCCESS;
}

bool Known(CUdeviceptr p, size_t n) { return n == 0 || RangeIsDevice(p, n); }

CUresult Copy(void* dst, const void* src, size_t n, CUstream stream, bool per_thread, bool wait) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (n == 0) return CUDA_SUCCESS;
  if (dst == nullptr || src == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return Submit(stream, per_thread, wait, [dst, src, n] { std::memmove(dst, src, n); });
}

CUresult HtoD(CUdeviceptr dst, const void* src, size_t n, CUstream stream, bool per_thread, bool wait) {
  if (Initialized() && !Known(dst, n)) return CUDA_ERROR_INVALID_VALUE;
  return Copy(reinterpret_cast<void*>(dst), src, n, stream, per_thread, wait);
}

CUresult DtoH(void* dst, CUdeviceptr src, size_t n, CUstream stream, bool per_thread, bool wait) {
  if (Initialized() && !Known(src, n)) return CUDA_ERROR_INVALID_VALUE;
  return Copy(dst, reinterpret_cast<const void*>(src), n, stream, per_thread, wait);
}

CUresult DtoD(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream stream, bool per_thread, bool wait) {
  if (Initialized() && (!Known(dst, n) || !Known(src, n))) return CUDA_ERROR_INVALID_VALUE;
  return Copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, stream, per_thread, wait);
}

template <typename T>
CUresult Set(CUdeviceptr dst, T value, size_t count, CUstream stream, bool per_thread, bool wait) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (count == 0) return CUDA_SUCCESS;
  if (dst % sizeof(T) != 0 || !Known(dst, count * sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
  return Submit(stream, per_thread, wait, [dst, value, count] {
    T* p = reinterpret_cast<T*>(dst);
    if constexpr (sizeof(T) == 1) {
      std::memset(p, value, count);
    } else {
      for (size_t i = 0; i < count; ++i) p[i] = value;
    }
  });
}

}  // namespace

SIMGPU_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return Copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return Copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return Copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return Copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, s, true, false);
}

SIMGPU_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  return HtoD(dst, src, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dst, const void* src, size_t n) {
  return HtoD(dst, src, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  return DtoH(dst, src, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void* dst, CUdeviceptr src, size_t n) {
  return DtoH(dst, src, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return DtoD(dst, src, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return DtoD(dst, src, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  return HtoD(dst, src, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
  return HtoD(dst, src, n, s, true, false);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  return DtoH(dst, src, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void* dst, CUdeviceptr src, size_t n, CUstream s) {
  return DtoH(dst, src, n, s, true, false);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return DtoD(dst, src, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return DtoD(dst, src, n, s, true, false);
}

SIMGPU_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  return Set<unsigned char>(dst, v, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr dst, unsigned char v, size_t n) {
  return Set<unsigned char>(dst, v, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemsetD16_v2(CUdeviceptr dst, unsigned short v, size_t n) {
  return Set<unsigned short>(dst, v, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemsetD16_v2_ptds(CUdeviceptr dst, unsigned short v, size_t n) {
  return Set<unsigned short>(dst, v, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n) {
  return Set<unsigned int>(dst, v, n, nullptr, false, true);
}
SIMGPU_EXPORT CUresult cuMemsetD32_v2_ptds(CUdeviceptr dst, unsigned int v, size_t n) {
  return Set<unsigned int>(dst, v, n, nullptr, true, true);
}
SIMGPU_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  return Set<unsigned char>(dst, v, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemsetD8Async_ptsz(CUdeviceptr dst, unsigned char v, size_t n, CUstream s) {
  return Set<unsigned char>(dst, v, n, s, true, false);
}
SIMGPU_EXPORT CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n, CUstream s) {
  return Set<unsigned short>(dst, v, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemsetD16Async_ptsz(CUdeviceptr dst, unsigned short v, size_t n, CUstream s) {
  return Set<unsigned short>(dst, v, n, s, true, false);
}
SIMGPU_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
  return Set<unsigned int>(dst, v, n, s, false, false);
}
SIMGPU_EXPORT CUresult cuMemsetD32Async_ptsz(CUdeviceptr dst, unsigned int v, size_t n, CUstream s) {
  return Set<unsigned int>(dst, v, n, s, true, false);
}
