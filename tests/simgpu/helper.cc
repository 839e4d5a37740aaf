// A second process for the multi-process tests: it uses the simulated GPU
// through the public driver API only.
//   simgpu_test_helper alloc <MiB>                   allocate, print "ready" (or "oom"), sleep
//   simgpu_test_helper managed <MiB>                 allocate managed memory, touch it with a
//                                                    kernel, print "ready", sleep
//   simgpu_test_helper spin <kernel_us> <secs>       back-to-back kernels; print count
//   simgpu_test_helper spinready <kernel_us> <secs>  the same, printing "ready" before the first
#include <cuda.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/simgpu/simgpu_module.h"

namespace {
int Check(CUresult rc, const char* what) {
  if (rc != CUDA_SUCCESS) {
    std::fprintf(stderr, "helper: %s failed: %d\n", what, static_cast<int>(rc));
    std::exit(3);
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 64;
  CUcontext ctx;
  Check(cuInit(0), "cuInit");
  Check(cuDevicePrimaryCtxRetain(&ctx, 0), "retain");
  Check(cuCtxSetCurrent(ctx), "set current");
  if (std::strcmp(argv[1], "alloc") == 0) {
    CUdeviceptr p;
    CUresult rc = cuMemAlloc(&p, std::strtoull(argv[2], nullptr, 10) << 20);
    std::printf("%s\n", rc == CUDA_SUCCESS ? "ready" : "oom");
    std::fflush(stdout);
    pause();
    return 0;
  }
  if (std::strcmp(argv[1], "managed") == 0) {
    simgpu::ModuleImage image;
    image.AddKernel("touch", 1000, {"ptr"});
    CUmodule m;
    CUfunction f;
    CUdeviceptr p;
    Check(cuModuleLoadData(&m, image.Text()), "load");
    Check(cuModuleGetFunction(&f, m, "touch"), "function");
    Check(cuMemAllocManaged(&p, std::strtoull(argv[2], nullptr, 10) << 20, CU_MEM_ATTACH_GLOBAL), "managed");
    void* params[] = {&p};
    Check(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, params, nullptr), "launch");
    Check(cuCtxSynchronize(), "sync");
    std::printf("ready\n");
    std::fflush(stdout);
    pause();
    return 0;
  }
  bool announce = std::strcmp(argv[1], "spinready") == 0;
  if ((announce || std::strcmp(argv[1], "spin") == 0) && argc == 4) {
    simgpu::ModuleImage image;
    image.AddKernel("k", std::strtoull(argv[2], nullptr, 10) * 1000);
    CUmodule m;
    CUfunction f;
    CUstream s;
    Check(cuModuleLoadData(&m, image.Text()), "load");
    Check(cuModuleGetFunction(&f, m, "k"), "function");
    Check(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "stream");
    if (announce) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::atof(argv[3]));
    long kernels = 0;
    while (std::chrono::steady_clock::now() < end) {
      Check(cuLaunchKernel(f, 132, 1, 1, 128, 1, 1, 0, s, nullptr, nullptr), "launch");
      Check(cuStreamSynchronize(s), "sync");
      ++kernels;
    }
    std::printf("%ld\n", kernels);
    return 0;
  }
  return 64;
}
