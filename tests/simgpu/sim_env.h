// Test isolation for the simulated GPU: every test process gets its own
// shared-memory segment (unlinked at exit) and a fixed configuration, set
// before the first cuInit/nvmlInit reads them.
#pragma once

#include <cuda.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace simtest {

inline constexpr unsigned long long kDeviceMemory = 4ULL << 30;
inline constexpr int kSms = 132;

inline const std::string& SegmentName() {
  static const std::string name = [] {
    std::string n = "tgs-simtest-" + std::to_string(getpid());
    setenv("TGS_SIM_SHM", n.c_str(), 1);
    setenv("TGS_SIM_MEMORY", "4GiB", 1);
    setenv("TGS_SIM_DEVICES", "2", 1);
    setenv("TGS_SIM_SMS", "132", 1);
    std::atexit([] { shm_unlink(("/" + std::string(getenv("TGS_SIM_SHM"))).c_str()); });
    return n;
  }();
  return name;
}

// cuInit + a current primary context on device 0.
inline CUcontext InitPrimary() {
  SegmentName();
  if (cuInit(0) != CUDA_SUCCESS) return nullptr;
  CUcontext ctx = nullptr;
  if (cuDevicePrimaryCtxRetain(&ctx, 0) != CUDA_SUCCESS) return nullptr;
  cuCtxSetCurrent(ctx);
  return ctx;
}

inline size_t UsedBytes(CUdevice dev = 0) {
  CUcontext ctx = nullptr;
  cuDevicePrimaryCtxRetain(&ctx, dev);
  cuCtxPushCurrent(ctx);
  size_t free_bytes = 0, total = 0;
  cuMemGetInfo(&free_bytes, &total);
  cuCtxPopCurrent(nullptr);
  cuDevicePrimaryCtxRelease(dev);
  return total - free_bytes;
}

}  // namespace simtest
