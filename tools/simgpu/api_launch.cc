// Exported entry points: modules and kernel launches. A launch validates its
// arguments, turns the grid into device time, notes the managed allocations
// its pointer arguments name, and queues it: it never waits for the device
// (unless the stream's queue is full).
#include <fstream>
#include <sstream>

#include "tools/simgpu/cuda_api.h"
#include "tools/simgpu/driver.h"
#include "tools/simgpu/module.h"
#include "tools/simgpu/params.h"
#include "tools/simgpu/stream.h"

using namespace simgpu;

namespace {

CUresult Launch(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                CUstream stream, bool per_thread, void** params, void** extra) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  Function* f = FindFunction(fn);
  if (f == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return CUDA_ERROR_INVALID_VALUE;
  if (gy > 65535 || gz > 65535 || bz > 64 || static_cast<uint64_t>(bx) * by * bz > 1024) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  Op op;
  if (CUresult rc = ManagedArguments(*f, params, extra, &op.managed); rc != CUDA_SUCCESS) return rc;
  op.kind = Op::kKernel;
  op.duration_ns = KernelDurationNs(*f, static_cast<uint64_t>(gx) * gy * gz);
  op.func = fn;
  op.grid[0] = gx, op.grid[1] = gy, op.grid[2] = gz;
  op.block[0] = bx, op.block[1] = by, op.block[2] = bz;
  return Enqueue(s, std::move(op));
}

CUresult LaunchEx(const CUlaunchConfig* config, CUfunction f, bool per_thread, void** params, void** extra) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (config == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (config->numAttrs != 0 && config->attrs == nullptr) return CUDA_ERROR_INVALID_VALUE;
  // Attributes (cooperative, cluster shape, priority...) do not change device
  // time in this model.
  return Launch(f, config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX, config->blockDimY,
                config->blockDimZ, config->hStream, per_thread, params, extra);
}

CUresult HostFunc(CUstream stream, CUhostFn fn, void* data, bool per_thread) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (fn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  Op op;
  op.kind = Op::kWork;
  op.work = [fn, data] { fn(data); };
  return Enqueue(s, std::move(op));
}

CUresult Load(CUmodule* module, const void* image) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (module == nullptr || image == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  return LoadModule(static_cast<const char*>(image), module);
}

}  // namespace

SIMGPU_EXPORT CUresult cuModuleLoadData(CUmodule* module, const void* image) { return Load(module, image); }

SIMGPU_EXPORT CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int n, CUjit_option* options,
                                          void** values) {
  (void)n;
  (void)options;
  (void)values;
  return Load(module, image);
}

SIMGPU_EXPORT CUresult cuModuleLoad(CUmodule* module, const char* path) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (path == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::ifstream in(path, std::ios::binary);
  if (!in) return CUDA_ERROR_FILE_NOT_FOUND;
  std::stringstream text;
  text << in.rdbuf();
  return Load(module, text.str().c_str());
}

SIMGPU_EXPORT CUresult cuModuleUnload(CUmodule module) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  return UnloadModule(module);
}

SIMGPU_EXPORT CUresult cuModuleGetFunction(CUfunction* fn, CUmodule handle, const char* name) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (fn == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto module = FindModule(handle);
  if (module == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  auto it = module->functions.find(name);
  if (it == module->functions.end()) return CUDA_ERROR_NOT_FOUND;
  *fn = it->second.get();
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuFuncGetAttribute(int* value, CUfunction_attribute attr, CUfunction fn) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (FindFunction(fn) == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  switch (attr) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *value = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: *value = 90; break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *value = 90; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *value = 49152; break;
    default: *value = 0; break;
  }
  return CUDA_SUCCESS;
}

SIMGPU_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                      unsigned int by, unsigned int bz, unsigned int shared, CUstream s, void** params,
                                      void** extra) {
  (void)shared;
  return Launch(f, gx, gy, gz, bx, by, bz, s, false, params, extra);
}

SIMGPU_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                           unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                                           CUstream s, void** params, void** extra) {
  (void)shared;
  return Launch(f, gx, gy, gz, bx, by, bz, s, true, params, extra);
}

SIMGPU_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  return LaunchEx(config, f, false, params, extra);
}

SIMGPU_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {
  return LaunchEx(config, f, true, params, extra);
}

SIMGPU_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                                 unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                                                 CUstream s, void** params) {
  (void)shared;
  return Launch(f, gx, gy, gz, bx, by, bz, s, false, params, nullptr);
}

SIMGPU_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                                      unsigned int bx, unsigned int by, unsigned int bz,
                                                      unsigned int shared, CUstream s, void** params) {
  (void)shared;
  return Launch(f, gx, gy, gz, bx, by, bz, s, true, params, nullptr);
}

SIMGPU_EXPORT CUresult cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS* list, unsigned int n,
                                                            unsigned int flags) {
  (void)list;
  (void)n;
  (void)flags;
  return CUDA_ERROR_NOT_SUPPORTED;  // deprecated since CUDA 11.3
}

SIMGPU_EXPORT CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void* data) { return HostFunc(s, fn, data, false); }
SIMGPU_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void* data) {
  return HostFunc(s, fn, data, true);
}

// Pre-4.0 launches need cuFuncSetBlockShape/cuParamSet*, which are not modelled.
SIMGPU_EXPORT CUresult cuLaunch(CUfunction f) {
  (void)f;
  return CUDA_ERROR_NOT_SUPPORTED;
}
SIMGPU_EXPORT CUresult cuLaunchGrid(CUfunction f, int w, int h) {
  (void)f;
  (void)w;
  (void)h;
  return CUDA_ERROR_NOT_SUPPORTED;
}
SIMGPU_EXPORT CUresult cuLaunchGridAsync(CUfunction f, int w, int h, CUstream s) {
  (void)f;
  (void)w;
  (void)h;
  (void)s;
  return CUDA_ERROR_NOT_SUPPORTED;
}
