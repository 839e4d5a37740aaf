// tgs-test-client-{linked,procaddr}: a scriptable CUDA driver-API client for
// the process-level integration tests.
//
// One source, two builds:
//  - linked   (TGS_CLIENT_PROCADDR undefined): links "-lcuda" and calls the cu*
//    functions by name, as an application written against cuda.h does;
//  - procaddr (TGS_CLIENT_PROCADDR=1): no link to libcuda. It dlopen()s
//    "libcuda.so.1", dlsym()s only cuGetProcAddress_v2 and obtains every other
//    entry point through it with the (name, version, flags) a CUDA 13 runtime
//    asks for, as libcudart does (see FIELD-NOTES §1).
//
// Commands are taken from argv in order, e.g.
//   tgs-test-client-linked alloc pitch 64MiB meminfo free-all meminfo
// Every command prints exactly one line "RESULT <command> key=value ..." on
// stdout (line-buffered), which the tests parse. Exit status: 0 when all
// commands ran (CUDA errors are results, not failures), 3 when CUDA could not
// be initialised for a command that needs it, 64 on a usage error.
#include <cuda.h>
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shim/util/byte_size.h"

namespace {

// ---------------------------------------------------------------- driver table

// The legacy (pre-3.2, 32-bit) cuMemAlloc ABI, declared by cuda.h only under
// __CUDA_API_VERSION_INTERNAL.
using LegacyMemAllocFn = CUresult (*)(unsigned int* dptr, unsigned int bytesize);
using MemAllocV2Fn = CUresult (*)(CUdeviceptr* dptr, size_t bytesize);
using GetProcAddressV2Fn = CUresult (*)(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags,
                                        CUdriverProcAddressQueryResult* symbolStatus);
// cuCtxCreate as requested with version 3020 (cuCtxCreate_v2).
using CtxCreateV2Fn = CUresult (*)(CUcontext* pctx, unsigned int flags, CUdevice dev);

struct Driver {
  GetProcAddressV2Fn getProcAddress = nullptr;
  decltype(&cuInit) init = nullptr;
  decltype(&cuDeviceGet) deviceGet = nullptr;
  decltype(&cuDeviceGetCount) deviceGetCount = nullptr;
  decltype(&cuDeviceTotalMem) deviceTotalMem = nullptr;
  decltype(&cuDevicePrimaryCtxRetain) primaryCtxRetain = nullptr;
  decltype(&cuCtxSetCurrent) ctxSetCurrent = nullptr;
#ifdef TGS_CLIENT_PROCADDR
  CtxCreateV2Fn ctxCreate = nullptr;
#else
  decltype(&cuCtxCreate) ctxCreate = nullptr;
#endif
  decltype(&cuCtxDestroy) ctxDestroy = nullptr;
  decltype(&cuMemGetInfo) memGetInfo = nullptr;
  decltype(&cuMemAlloc) memAlloc = nullptr;
  decltype(&cuMemAllocPitch) memAllocPitch = nullptr;
  decltype(&cuMemAllocManaged) memAllocManaged = nullptr;
  decltype(&cuMemFree) memFree = nullptr;
  decltype(&cuMemAllocAsync) memAllocAsync = nullptr;
  decltype(&cuMemFreeAsync) memFreeAsync = nullptr;
  decltype(&cuMemPoolCreate) memPoolCreate = nullptr;
  decltype(&cuMemPoolDestroy) memPoolDestroy = nullptr;
  decltype(&cuMemAllocFromPoolAsync) memAllocFromPoolAsync = nullptr;
  decltype(&cuStreamSynchronize) streamSynchronize = nullptr;
  decltype(&cuMemGetAllocationGranularity) memGetAllocationGranularity = nullptr;
  decltype(&cuMemCreate) memCreate = nullptr;
  decltype(&cuMemRelease) memRelease = nullptr;
  decltype(&cuMemAddressReserve) memAddressReserve = nullptr;
  decltype(&cuMemAddressFree) memAddressFree = nullptr;
  decltype(&cuMemMap) memMap = nullptr;
  decltype(&cuMemUnmap) memUnmap = nullptr;
  decltype(&cuMemSetAccess) memSetAccess = nullptr;
  decltype(&cuArrayCreate) arrayCreate = nullptr;
  decltype(&cuArray3DCreate) array3DCreate = nullptr;
  decltype(&cuArrayDestroy) arrayDestroy = nullptr;
  decltype(&cuMipmappedArrayCreate) mipmappedArrayCreate = nullptr;
  decltype(&cuMipmappedArrayDestroy) mipmappedArrayDestroy = nullptr;
  decltype(&cuModuleLoadData) moduleLoadData = nullptr;
  decltype(&cuModuleGetFunction) moduleGetFunction = nullptr;
  decltype(&cuGraphCreate) graphCreate = nullptr;
  decltype(&cuGraphAddKernelNode) graphAddKernelNode = nullptr;
  decltype(&cuGraphInstantiate) graphInstantiate = nullptr;
  decltype(&cuGraphLaunch) graphLaunch = nullptr;
  decltype(&cuGraphExecDestroy) graphExecDestroy = nullptr;
  decltype(&cuGraphDestroy) graphDestroy = nullptr;
};

Driver g_drv;
std::string g_load_error;  // why the table could not be filled (procaddr build)

#ifdef TGS_CLIENT_PROCADDR
// Versions as the CUDA 13 runtime requests them
// (shared/data/cudart13-getprocaddress-requests.tsv); the VMM entry points are
// not requested by the runtime and use the version that introduced them.
template <typename Fn>
bool Resolve(Fn* out, const char* name, int version, cuuint64_t flags = 0) {
  void* p = nullptr;
  CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  CUresult r = g_drv.getProcAddress(name, &p, version, flags, &found);
  if (r != CUDA_SUCCESS || p == nullptr) {
    if (g_load_error.empty()) {
      g_load_error = std::string("cuGetProcAddress_v2(") + name + ", " + std::to_string(version) +
                     ") failed: status " + std::to_string(static_cast<int>(r)) + " found " +
                     std::to_string(static_cast<int>(found));
    }
    return false;
  }
  *out = reinterpret_cast<Fn>(p);
  return true;
}

bool LoadDriver() {
  void* h = dlopen("libcuda.so.1", RTLD_NOW);
  if (h == nullptr) {
    g_load_error = std::string("dlopen(libcuda.so.1): ") + dlerror();
    return false;
  }
  g_drv.getProcAddress = reinterpret_cast<GetProcAddressV2Fn>(dlsym(h, "cuGetProcAddress_v2"));
  if (g_drv.getProcAddress == nullptr) {
    g_load_error = "dlsym(cuGetProcAddress_v2) failed";
    return false;
  }
  bool ok = true;
  ok &= Resolve(&g_drv.init, "cuInit", 2000);
  ok &= Resolve(&g_drv.deviceGet, "cuDeviceGet", 2000);
  ok &= Resolve(&g_drv.deviceGetCount, "cuDeviceGetCount", 2000);
  ok &= Resolve(&g_drv.deviceTotalMem, "cuDeviceTotalMem", 3020);
  ok &= Resolve(&g_drv.primaryCtxRetain, "cuDevicePrimaryCtxRetain", 7000);
  ok &= Resolve(&g_drv.ctxSetCurrent, "cuCtxSetCurrent", 4000);
  ok &= Resolve(&g_drv.ctxCreate, "cuCtxCreate", 3020);
  ok &= Resolve(&g_drv.ctxDestroy, "cuCtxDestroy", 4000);
  ok &= Resolve(&g_drv.memGetInfo, "cuMemGetInfo", 3020);
  ok &= Resolve(&g_drv.memAlloc, "cuMemAlloc", 3020);
  ok &= Resolve(&g_drv.memAllocPitch, "cuMemAllocPitch", 3020);
  ok &= Resolve(&g_drv.memAllocManaged, "cuMemAllocManaged", 6000);
  ok &= Resolve(&g_drv.memFree, "cuMemFree", 3020);
  ok &= Resolve(&g_drv.memAllocAsync, "cuMemAllocAsync", 11020);
  ok &= Resolve(&g_drv.memFreeAsync, "cuMemFreeAsync", 11020);
  ok &= Resolve(&g_drv.memPoolCreate, "cuMemPoolCreate", 11020);
  ok &= Resolve(&g_drv.memPoolDestroy, "cuMemPoolDestroy", 11020);
  ok &= Resolve(&g_drv.memAllocFromPoolAsync, "cuMemAllocFromPoolAsync", 11020);
  ok &= Resolve(&g_drv.streamSynchronize, "cuStreamSynchronize", 2000);
  ok &= Resolve(&g_drv.memGetAllocationGranularity, "cuMemGetAllocationGranularity", 10020);
  ok &= Resolve(&g_drv.memCreate, "cuMemCreate", 10020);
  ok &= Resolve(&g_drv.memRelease, "cuMemRelease", 10020);
  ok &= Resolve(&g_drv.memAddressReserve, "cuMemAddressReserve", 10020);
  ok &= Resolve(&g_drv.memAddressFree, "cuMemAddressFree", 10020);
  ok &= Resolve(&g_drv.memMap, "cuMemMap", 10020);
  ok &= Resolve(&g_drv.memUnmap, "cuMemUnmap", 10020);
  ok &= Resolve(&g_drv.memSetAccess, "cuMemSetAccess", 10020);
  ok &= Resolve(&g_drv.arrayCreate, "cuArrayCreate", 3020);
  ok &= Resolve(&g_drv.array3DCreate, "cuArray3DCreate", 3020);
  ok &= Resolve(&g_drv.arrayDestroy, "cuArrayDestroy", 2000);
  ok &= Resolve(&g_drv.mipmappedArrayCreate, "cuMipmappedArrayCreate", 5000);
  ok &= Resolve(&g_drv.mipmappedArrayDestroy, "cuMipmappedArrayDestroy", 5000);
  ok &= Resolve(&g_drv.moduleLoadData, "cuModuleLoadData", 2000);
  ok &= Resolve(&g_drv.moduleGetFunction, "cuModuleGetFunction", 2000);
  ok &= Resolve(&g_drv.graphCreate, "cuGraphCreate", 10000);
  ok &= Resolve(&g_drv.graphAddKernelNode, "cuGraphAddKernelNode", 12000);
  ok &= Resolve(&g_drv.graphInstantiate, "cuGraphInstantiateWithFlags", 11040);
  ok &= Resolve(&g_drv.graphLaunch, "cuGraphLaunch", 10000);
  ok &= Resolve(&g_drv.graphExecDestroy, "cuGraphExecDestroy", 10000);
  ok &= Resolve(&g_drv.graphDestroy, "cuGraphDestroy", 10000);
  return ok;
}
#else
bool LoadDriver() {
  // cuda.h maps these names to their current _vN symbols (cuMemAlloc ->
  // cuMemAlloc_v2, cuCtxCreate -> cuCtxCreate_v4, ...), which the dynamic
  // linker binds to whatever provides libcuda.so.1's symbols.
  g_drv.getProcAddress = &cuGetProcAddress;
  g_drv.init = &cuInit;
  g_drv.deviceGet = &cuDeviceGet;
  g_drv.deviceGetCount = &cuDeviceGetCount;
  g_drv.deviceTotalMem = &cuDeviceTotalMem;
  g_drv.primaryCtxRetain = &cuDevicePrimaryCtxRetain;
  g_drv.ctxSetCurrent = &cuCtxSetCurrent;
  g_drv.ctxCreate = &cuCtxCreate;
  g_drv.ctxDestroy = &cuCtxDestroy;
  g_drv.memGetInfo = &cuMemGetInfo;
  g_drv.memAlloc = &cuMemAlloc;
  g_drv.memAllocPitch = &cuMemAllocPitch;
  g_drv.memAllocManaged = &cuMemAllocManaged;
  g_drv.memFree = &cuMemFree;
  g_drv.memAllocAsync = &cuMemAllocAsync;
  g_drv.memFreeAsync = &cuMemFreeAsync;
  g_drv.memPoolCreate = &cuMemPoolCreate;
  g_drv.memPoolDestroy = &cuMemPoolDestroy;
  g_drv.memAllocFromPoolAsync = &cuMemAllocFromPoolAsync;
  g_drv.streamSynchronize = &cuStreamSynchronize;
  g_drv.memGetAllocationGranularity = &cuMemGetAllocationGranularity;
  g_drv.memCreate = &cuMemCreate;
  g_drv.memRelease = &cuMemRelease;
  g_drv.memAddressReserve = &cuMemAddressReserve;
  g_drv.memAddressFree = &cuMemAddressFree;
  g_drv.memMap = &cuMemMap;
  g_drv.memUnmap = &cuMemUnmap;
  g_drv.memSetAccess = &cuMemSetAccess;
  g_drv.arrayCreate = &cuArrayCreate;
  g_drv.array3DCreate = &cuArray3DCreate;
  g_drv.arrayDestroy = &cuArrayDestroy;
  g_drv.mipmappedArrayCreate = &cuMipmappedArrayCreate;
  g_drv.mipmappedArrayDestroy = &cuMipmappedArrayDestroy;
  g_drv.moduleLoadData = &cuModuleLoadData;
  g_drv.moduleGetFunction = &cuModuleGetFunction;
  g_drv.graphCreate = &cuGraphCreate;
  g_drv.graphAddKernelNode = &cuGraphAddKernelNode;
  g_drv.graphInstantiate = &cuGraphInstantiate;
  g_drv.graphLaunch = &cuGraphLaunch;
  g_drv.graphExecDestroy = &cuGraphExecDestroy;
  g_drv.graphDestroy = &cuGraphDestroy;
  return true;
}
#endif

const char* ErrorName(CUresult r) {
  switch (static_cast<int>(r)) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 4: return "CUDA_ERROR_DEINITIALIZED";
    case 34: return "CUDA_ERROR_STUB_LIBRARY";
    case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
    case 46: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 201: return "CUDA_ERROR_INVALID_CONTEXT";
    case 300: return "CUDA_ERROR_INVALID_SOURCE";
    case 400: return "CUDA_ERROR_INVALID_HANDLE";
    case 401: return "CUDA_ERROR_ILLEGAL_STATE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    case 700: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case 800: return "CUDA_ERROR_NOT_PERMITTED";
    case 801: return "CUDA_ERROR_NOT_SUPPORTED";
    case 999: return "CUDA_ERROR_UNKNOWN";
    default: {
      static thread_local char buf[32];
      std::snprintf(buf, sizeof buf, "CUDA_ERROR_%d", static_cast<int>(r));
      return buf;
    }
  }
}

// ------------------------------------------------------------------ CUDA state

bool g_loaded = false;
bool g_initialised = false;
CUresult g_init_status = CUDA_ERROR_NOT_INITIALIZED;
CUdevice g_device = 0;
CUcontext g_ctx = nullptr;

// Loads the table and makes the primary context of device 0 current; prints
// "RESULT init ..." once. Returns false when CUDA is unusable.
bool EnsureInit() {
  if (g_initialised) return g_init_status == CUDA_SUCCESS;
  g_initialised = true;
  g_loaded = LoadDriver();
  if (!g_loaded) {
    std::printf("RESULT init status=LOAD_FAILED error=\"%s\"\n", g_load_error.c_str());
    g_init_status = CUDA_ERROR_NOT_INITIALIZED;
    return false;
  }
  CUresult r = g_drv.init(0);
  const char* step = "cuInit";
  if (r == CUDA_SUCCESS) {
    step = "cuDeviceGet";
    r = g_drv.deviceGet(&g_device, 0);
  }
  if (r == CUDA_SUCCESS) {
    step = "cuDevicePrimaryCtxRetain";
    r = g_drv.primaryCtxRetain(&g_ctx, g_device);
  }
  if (r == CUDA_SUCCESS) {
    step = "cuCtxSetCurrent";
    r = g_drv.ctxSetCurrent(g_ctx);
  }
  g_init_status = r;
  std::printf("RESULT init status=%s step=%s pid=%d\n", ErrorName(r), step, static_cast<int>(getpid()));
  return r == CUDA_SUCCESS;
}

// ----------------------------------------------------------------- allocations

enum class Path { kAlloc, kPitch, kManaged, kAsync, kPool, kVmm, kArray, kArray3D, kMipmap, kRtldNext, kLegacy };

struct PathName {
  Path path;
  const char* name;
};
constexpr PathName kPaths[] = {
    {Path::kAlloc, "alloc"},   {Path::kPitch, "pitch"},     {Path::kManaged, "managed"},
    {Path::kAsync, "async"},   {Path::kPool, "pool"},       {Path::kVmm, "vmm"},
    {Path::kArray, "array"},   {Path::kArray3D, "array3d"}, {Path::kMipmap, "mipmap"},
    {Path::kRtldNext, "rtld-next"}, {Path::kLegacy, "legacy"},
};

bool ParsePath(std::string_view s, Path* out) {
  for (const auto& p : kPaths) {
    if (s == p.name) {
      *out = p.path;
      return true;
    }
  }
  return false;
}

const char* PathToName(Path p) {
  for (const auto& e : kPaths) {
    if (e.path == p) return e.name;
  }
  return "?";
}

struct Allocation {
  Path path;
  uint64_t bytes = 0;
  CUdeviceptr ptr = 0;                     // linear paths, vmm mapping
  CUarray array = nullptr;                 // array, array3d
  CUmipmappedArray mipmap = nullptr;       // mipmap
  CUmemGenericAllocationHandle handle = 0;  // vmm
  bool mapped = false;                      // vmm: address reserved + mapped
};

struct AllocOutcome {
  CUresult status = CUDA_SUCCESS;
  uint64_t bytes = 0;        // what the allocation actually takes (after rounding)
  std::string extra;         // additional key=value pairs for the RESULT line
};

CUmemoryPool g_pool = nullptr;
std::mutex g_pool_mu;  // guards g_pool creation

CUmemoryPool Pool(CUresult* status) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool == nullptr) {
    CUmemPoolProps props{};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = g_device;
    *status = g_drv.memPoolCreate(&g_pool, &props);
    if (*status != CUDA_SUCCESS) g_pool = nullptr;
  } else {
    *status = CUDA_SUCCESS;
  }
  return g_pool;
}

CUmemAllocationProp VmmProps() {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = g_device;
  return prop;
}

uint64_t RoundUp(uint64_t v, uint64_t to) { return to == 0 ? v : (v + to - 1) / to * to; }

MemAllocV2Fn RtldNextMemAlloc(std::string* provider) {
  void* sym = dlsym(RTLD_NEXT, "cuMemAlloc_v2");
  if (sym != nullptr && provider != nullptr) {
    Dl_info info{};
    if (dladdr(sym, &info) != 0 && info.dli_fname != nullptr) *provider = info.dli_fname;
  }
  return reinterpret_cast<MemAllocV2Fn>(sym);
}

// One allocation of about `size` bytes through `path`. On success `*a` holds it.
AllocOutcome AllocateOne(Path path, uint64_t size, Allocation* a) {
  AllocOutcome out;
  a->path = path;
  switch (path) {
    case Path::kAlloc:
      out.bytes = size;
      out.status = g_drv.memAlloc(&a->ptr, size);
      break;
    case Path::kPitch: {
      // Rows of 4 KiB: the pitch equals the width, so bytes == size rounded up.
      const size_t width = 4096;
      const size_t height = static_cast<size_t>(RoundUp(size, width) / width);
      size_t pitch = 0;
      out.status = g_drv.memAllocPitch(&a->ptr, &pitch, width, height, 4);
      out.bytes = out.status == CUDA_SUCCESS ? static_cast<uint64_t>(pitch) * height : width * height;
      break;
    }
    case Path::kManaged:
      out.bytes = size;
      out.status = g_drv.memAllocManaged(&a->ptr, size, CU_MEM_ATTACH_GLOBAL);
      break;
    case Path::kAsync:
      out.bytes = size;
      out.status = g_drv.memAllocAsync(&a->ptr, size, nullptr);
      if (out.status == CUDA_SUCCESS) out.status = g_drv.streamSynchronize(nullptr);
      break;
    case Path::kPool: {
      out.bytes = size;
      CUmemoryPool pool = Pool(&out.status);
      if (out.status != CUDA_SUCCESS) {
        out.extra = "step=cuMemPoolCreate";
        break;
      }
      out.status = g_drv.memAllocFromPoolAsync(&a->ptr, size, pool, nullptr);
      if (out.status == CUDA_SUCCESS) out.status = g_drv.streamSynchronize(nullptr);
      break;
    }
    case Path::kVmm: {
      // cuMemCreate from a fresh thread that has no current context, as NCCL
      // and vLLM do: the device must come from the allocation properties.
      CUmemAllocationProp prop = VmmProps();
      size_t granularity = 0;
      CUresult gr = g_drv.memGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
      if (gr != CUDA_SUCCESS || granularity == 0) granularity = 2 << 20;
      out.bytes = RoundUp(size, granularity);
      CUresult create_status = CUDA_ERROR_UNKNOWN;
      std::thread worker([&] { create_status = g_drv.memCreate(&a->handle, out.bytes, &prop, 0); });
      worker.join();
      out.status = create_status;
      if (out.status != CUDA_SUCCESS) break;
      CUresult map = g_drv.memAddressReserve(&a->ptr, out.bytes, 0, 0, 0);
      if (map == CUDA_SUCCESS) {
        map = g_drv.memMap(a->ptr, out.bytes, 0, a->handle, 0);
        if (map == CUDA_SUCCESS) {
          a->mapped = true;
          CUmemAccessDesc access{};
          access.location = prop.location;
          access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
          map = g_drv.memSetAccess(a->ptr, out.bytes, &access, 1);
        } else {
          g_drv.memAddressFree(a->ptr, out.bytes);
          a->ptr = 0;
        }
      } else {
        a->ptr = 0;
      }
      out.extra = std::string("map_status=") + ErrorName(map);
      break;
    }
    case Path::kArray: {
      // 4096 x H texels of 4 x uint8: 16 KiB per row.
      CUDA_ARRAY_DESCRIPTOR d{};
      d.Width = 4096;
      d.Height = static_cast<size_t>(std::max<uint64_t>(1, RoundUp(size, 16384) / 16384));
      d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
      d.NumChannels = 4;
      out.bytes = static_cast<uint64_t>(d.Width) * d.Height * 4;
      out.status = g_drv.arrayCreate(&a->array, &d);
      break;
    }
    case Path::kArray3D: {
      // 256 x 256 x D texels of 4 x uint8: 256 KiB per slice.
      CUDA_ARRAY3D_DESCRIPTOR d{};
      d.Width = 256;
      d.Height = 256;
      d.Depth = static_cast<size_t>(std::max<uint64_t>(1, RoundUp(size, 262144) / 262144));
      d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
      d.NumChannels = 4;
      out.bytes = static_cast<uint64_t>(d.Width) * d.Height * d.Depth * 4;
      out.status = g_drv.array3DCreate(&a->array, &d);
      break;
    }
    case Path::kMipmap: {
      // One level of a 2D 4096 x H array (Depth 0), so bytes match "array".
      CUDA_ARRAY3D_DESCRIPTOR d{};
      d.Width = 4096;
      d.Height = static_cast<size_t>(std::max<uint64_t>(1, RoundUp(size, 16384) / 16384));
      d.Depth = 0;
      d.Format = CU_AD_FORMAT_UNSIGNED_INT8;
      d.NumChannels = 4;
      out.bytes = static_cast<uint64_t>(d.Width) * d.Height * 4;
      out.status = g_drv.mipmappedArrayCreate(&a->mipmap, &d, 1);
      break;
    }
    case Path::kRtldNext: {
      // FIELD-NOTES §6: the next object after the executable that defines
      // cuMemAlloc_v2. With the shim preloaded this must not be a way round it.
      std::string provider = "none";
      MemAllocV2Fn fn = RtldNextMemAlloc(&provider);
      out.bytes = size;
      out.extra = "provider=" + provider;
      if (fn == nullptr) {
        out.status = CUDA_ERROR_NOT_FOUND;
        out.extra += " pointer=none";
        break;
      }
      out.status = fn(&a->ptr, size);
      break;
    }
    case Path::kLegacy: {
      // cuGetProcAddress_v2("cuMemAlloc", 2000): the pre-3.2 32-bit ABI.
      out.bytes = size;
      void* p = nullptr;
      CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
      CUresult gr = g_drv.getProcAddress("cuMemAlloc", &p, 2000, 0, &found);
      out.extra = std::string("gpa_status=") + ErrorName(gr) + " found=" + std::to_string(static_cast<int>(found));
      if (gr != CUDA_SUCCESS || p == nullptr) {
        out.status = CUDA_ERROR_NOT_FOUND;
        out.extra += " pointer=none";
        break;
      }
      if (size > 0xffffffffULL) {
        out.status = CUDA_ERROR_INVALID_VALUE;
        break;
      }
      unsigned int dptr32 = 0;
      out.status = reinterpret_cast<LegacyMemAllocFn>(p)(&dptr32, static_cast<unsigned int>(size));
      a->ptr = dptr32;
      break;
    }
  }
  a->bytes = out.bytes;
  return out;
}

CUresult FreeOne(Allocation& a) {
  switch (a.path) {
    case Path::kAlloc:
    case Path::kPitch:
    case Path::kManaged:
    case Path::kRtldNext:
    case Path::kLegacy:
      return g_drv.memFree(a.ptr);
    case Path::kAsync:
    case Path::kPool: {
      CUresult r = g_drv.memFreeAsync(a.ptr, nullptr);
      CUresult s = g_drv.streamSynchronize(nullptr);
      return r != CUDA_SUCCESS ? r : s;
    }
    case Path::kVmm: {
      CUresult first = CUDA_SUCCESS;
      if (a.mapped) {
        CUresult r = g_drv.memUnmap(a.ptr, a.bytes);
        if (first == CUDA_SUCCESS) first = r;
      }
      if (a.ptr != 0) {
        CUresult r = g_drv.memAddressFree(a.ptr, a.bytes);
        if (first == CUDA_SUCCESS) first = r;
      }
      CUresult r = g_drv.memRelease(a.handle);
      return first != CUDA_SUCCESS ? first : r;
    }
    case Path::kArray:
    case Path::kArray3D:
      return g_drv.arrayDestroy(a.array);
    case Path::kMipmap:
      return g_drv.mipmappedArrayDestroy(a.mipmap);
  }
  return CUDA_ERROR_INVALID_VALUE;
}

std::vector<Allocation> g_live;  // main thread only

// --------------------------------------------------------------------- helpers

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "usage error: %s\n"
               "commands: alloc <path> <size> | alloc-until-oom <path> <step> | free-last | free-all |\n"
               "          meminfo | nvml-meminfo | ctx-create | hold <seconds> | stress <threads> <seconds> |\n"
               "          rtld-next <size> | fork-child <size> | fork-wait | sleep-ms <ms>\n"
               "          lookup <name> <cudaVersion> <flags> | graph <nodes> <blocks> <launches>\n"
               "          ipc-export-last | managed-last\n"
               "paths: alloc pitch managed async pool vmm array array3d mipmap rtld-next legacy\n",
               why);
  std::exit(64);
}

uint64_t ParseSize(const char* text) {
  std::string why;
  auto v = tgs::ParseByteSize(text, &why);
  if (!v) Usage((std::string("bad size '") + text + "': " + why).c_str());
  return *v;
}

struct MemInfo {
  CUresult status = CUDA_ERROR_NOT_INITIALIZED;
  size_t free = 0, total = 0;
};

MemInfo QueryMemInfo() {
  MemInfo m;
  m.status = g_drv.memGetInfo(&m.free, &m.total);
  return m;
}

// ------------------------------------------------------------------- commands

void CmdAlloc(Path path, uint64_t size) {
  Allocation a;
  AllocOutcome o = AllocateOne(path, size, &a);
  if (o.status == CUDA_SUCCESS) g_live.push_back(a);
  std::printf("RESULT alloc path=%s bytes=%" PRIu64 " status=%s%s%s\n", PathToName(path), o.bytes,
              ErrorName(o.status), o.extra.empty() ? "" : " ", o.extra.c_str());
}

void CmdAllocUntilOom(Path path, uint64_t step) {
  uint64_t total = 0, count = 0;
  CUresult last = CUDA_SUCCESS;
  std::string extra;
  // Bounded so that a missing limit cannot loop for ever.
  for (int i = 0; i < 100000; ++i) {
    Allocation a;
    AllocOutcome o = AllocateOne(path, step, &a);
    extra = o.extra;
    last = o.status;
    if (o.status != CUDA_SUCCESS) break;
    g_live.push_back(a);
    total += o.bytes;
    ++count;
  }
  std::printf("RESULT alloc-until-oom path=%s step=%" PRIu64 " bytes=%" PRIu64 " count=%" PRIu64 " status=%s%s%s\n",
              PathToName(path), step, total, count, ErrorName(last), extra.empty() ? "" : " ", extra.c_str());
}

void CmdFreeLast() {
  if (g_live.empty()) {
    std::printf("RESULT free-last count=0 status=NOTHING\n");
    return;
  }
  Allocation a = g_live.back();
  g_live.pop_back();
  CUresult r = FreeOne(a);
  std::printf("RESULT free-last path=%s bytes=%" PRIu64 " status=%s\n", PathToName(a.path), a.bytes, ErrorName(r));
}

// CUDA IPC export and the unified-memory flag of the newest live allocation.
// Looked up at run time: a driver without IPC must not stop the client loading.
void CmdIpcExportLast() {
  using IpcGetMemHandleFn = CUresult (*)(CUipcMemHandle*, CUdeviceptr);
  auto fn = reinterpret_cast<IpcGetMemHandleFn>(dlsym(RTLD_DEFAULT, "cuIpcGetMemHandle"));
  if (g_live.empty() || g_live.back().ptr == 0) {
    std::printf("RESULT ipc-export-last status=NOTHING\n");
    return;
  }
  CUipcMemHandle handle;
  CUresult r = fn != nullptr ? fn(&handle, g_live.back().ptr) : CUDA_ERROR_NOT_FOUND;
  std::printf("RESULT ipc-export-last path=%s status=%s\n", PathToName(g_live.back().path), ErrorName(r));
}

void CmdManagedLast() {
  using PointerGetAttributeFn = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  auto fn = reinterpret_cast<PointerGetAttributeFn>(dlsym(RTLD_DEFAULT, "cuPointerGetAttribute"));
  if (g_live.empty() || g_live.back().ptr == 0 || fn == nullptr) {
    std::printf("RESULT managed-last status=NOTHING\n");
    return;
  }
  int managed = -1;
  CUresult r = fn(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, g_live.back().ptr);
  std::printf("RESULT managed-last path=%s managed=%d status=%s\n", PathToName(g_live.back().path), managed,
              ErrorName(r));
}

void CmdFreeAll() {
  uint64_t bytes = 0, count = 0;
  CUresult first = CUDA_SUCCESS;
  while (!g_live.empty()) {
    Allocation a = g_live.back();
    g_live.pop_back();
    CUresult r = FreeOne(a);
    if (r != CUDA_SUCCESS && first == CUDA_SUCCESS) first = r;
    bytes += a.bytes;
    ++count;
  }
  std::printf("RESULT free-all count=%" PRIu64 " bytes=%" PRIu64 " status=%s\n", count, bytes, ErrorName(first));
}

void CmdMemInfo() {
  MemInfo m = QueryMemInfo();
  size_t devtotal = 0;
  CUresult dt = g_drv.deviceTotalMem(&devtotal, g_device);
  std::printf("RESULT meminfo free=%zu total=%zu used=%zu status=%s devtotal=%zu devtotal_status=%s\n", m.free, m.total,
              m.total >= m.free ? m.total - m.free : 0, ErrorName(m.status), devtotal, ErrorName(dt));
}

// NVML's own declarations, written from the public NVML reference (Debian has
// no nvml.h); deliberately independent of the shim's copy.
struct NvmlMemoryV1 {
  unsigned long long total, free, used;
};
struct NvmlMemoryV2 {
  unsigned int version;
  unsigned long long total, reserved, free, used;
};
using NvmlInitFn = int (*)();
using NvmlHandleByIndexFn = int (*)(unsigned int, void**);
using NvmlMemInfoV1Fn = int (*)(void*, NvmlMemoryV1*);
using NvmlMemInfoV2Fn = int (*)(void*, NvmlMemoryV2*);

void CmdNvmlMemInfo() {
  void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW);
  if (h == nullptr) {
    std::printf("RESULT nvml-meminfo status=LOAD_FAILED error=\"%s\"\n", dlerror());
    return;
  }
  auto init = reinterpret_cast<NvmlInitFn>(dlsym(h, "nvmlInit_v2"));
  auto by_index = reinterpret_cast<NvmlHandleByIndexFn>(dlsym(h, "nvmlDeviceGetHandleByIndex_v2"));
  auto v1 = reinterpret_cast<NvmlMemInfoV1Fn>(dlsym(h, "nvmlDeviceGetMemoryInfo"));
  auto v2 = reinterpret_cast<NvmlMemInfoV2Fn>(dlsym(h, "nvmlDeviceGetMemoryInfo_v2"));
  if (init == nullptr || by_index == nullptr || v1 == nullptr || v2 == nullptr) {
    std::printf("RESULT nvml-meminfo status=SYMBOL_MISSING\n");
    return;
  }
  int r = init();
  void* dev = nullptr;
  if (r == 0) r = by_index(0, &dev);
  if (r != 0) {
    std::printf("RESULT nvml-meminfo status=%d step=init\n", r);
    return;
  }
  NvmlMemoryV1 m1{};
  int r1 = v1(dev, &m1);
  NvmlMemoryV2 m2{};
  m2.version = static_cast<unsigned int>(sizeof(NvmlMemoryV2) | (2u << 24));
  int r2 = v2(dev, &m2);
  std::printf("RESULT nvml-meminfo status=%d total=%llu used=%llu free=%llu v2_status=%d v2_total=%llu v2_used=%llu "
              "v2_free=%llu v2_reserved=%llu\n",
              r1, m1.total, m1.used, m1.free, r2, m2.total, m2.used, m2.free, m2.reserved);
}

// cuInit + cuCtxCreate on device 0 without the init helper, so a refused
// cuInit can be seen together with what context creation says.
void CmdCtxCreate() {
  if (!g_loaded && !g_initialised) {
    g_loaded = LoadDriver();
  }
  if (!g_loaded) {
    std::printf("RESULT ctx-create status=LOAD_FAILED\n");
    return;
  }
  CUresult ri = g_drv.init(0);
  CUdevice dev = 0;
  CUresult rd = g_drv.deviceGet(&dev, 0);
  CUcontext ctx = nullptr;
#ifdef TGS_CLIENT_PROCADDR
  CUresult rc = g_drv.ctxCreate(&ctx, 0, dev);
#else
  CUresult rc = g_drv.ctxCreate(&ctx, nullptr, 0, dev);
#endif
  if (rc == CUDA_SUCCESS) g_drv.ctxDestroy(ctx);
  std::printf("RESULT ctx-create init_status=%s device_status=%s status=%s\n", ErrorName(ri), ErrorName(rd),
              ErrorName(rc));
}

void CmdHold(double seconds) {
  MemInfo m = QueryMemInfo();
  std::printf("RESULT hold seconds=%g live=%zu used=%zu\n", seconds, g_live.size(),
              m.total >= m.free ? m.total - m.free : 0);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

void CmdStress(int threads, double seconds) {
  MemInfo before = QueryMemInfo();
  const uint64_t used_before = before.total - before.free;
  std::atomic<uint64_t> live_bytes{0}, max_live{0}, ops{0}, allocs{0}, frees{0}, ooms{0}, errors{0};
  std::mutex err_mu;  // guards first_error
  std::string first_error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const Path kStressPaths[] = {Path::kAlloc, Path::kAsync, Path::kPool, Path::kPitch, Path::kVmm, Path::kManaged};

  auto worker = [&](unsigned seed) {
    CUresult cr = g_drv.ctxSetCurrent(g_ctx);
    if (cr != CUDA_SUCCESS) {
      errors++;
      return;
    }
    std::mt19937_64 rng(seed);
    std::vector<Allocation> mine;
    auto record_error = [&](const char* what, Path p, CUresult r) {
      errors++;
      std::lock_guard<std::mutex> lock(err_mu);
      if (first_error.empty()) first_error = std::string(what) + ":" + PathToName(p) + ":" + ErrorName(r);
    };
    while (std::chrono::steady_clock::now() < deadline) {
      ops++;
      bool do_free = !mine.empty() && (mine.size() >= 8 || rng() % 2 == 0);
      if (do_free) {
        size_t i = rng() % mine.size();
        Allocation a = mine[i];
        mine[i] = mine.back();
        mine.pop_back();
        // Counted down before the free and up after the allocation, so that
        // live_bytes never exceeds what is really allocated (max_live is a
        // lower bound of the true peak, which must stay within the limit).
        live_bytes -= a.bytes;
        CUresult r = FreeOne(a);
        if (r != CUDA_SUCCESS) record_error("free", a.path, r);
        frees++;
      } else {
        Path p = kStressPaths[rng() % std::size(kStressPaths)];
        uint64_t size = (1 + rng() % 64) << 20;  // 1..64 MiB
        Allocation a;
        AllocOutcome o = AllocateOne(p, size, &a);
        if (o.status == CUDA_SUCCESS) {
          mine.push_back(a);
          uint64_t now = live_bytes += a.bytes;
          uint64_t prev = max_live.load();
          while (now > prev && !max_live.compare_exchange_weak(prev, now)) {
          }
          allocs++;
        } else if (o.status == CUDA_ERROR_OUT_OF_MEMORY) {
          ooms++;
        } else {
          record_error("alloc", p, o.status);
        }
      }
    }
    for (auto& a : mine) {
      live_bytes -= a.bytes;
      CUresult r = FreeOne(a);
      if (r != CUDA_SUCCESS) record_error("free", a.path, r);
      frees++;
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker, 1234u + static_cast<unsigned>(i));
  for (auto& t : pool) t.join();
  MemInfo after = QueryMemInfo();
  std::printf("RESULT stress threads=%d seconds=%g ops=%" PRIu64 " allocs=%" PRIu64 " frees=%" PRIu64
              " oom=%" PRIu64 " errors=%" PRIu64 " max_live=%" PRIu64 " used_before=%" PRIu64 " used_after=%zu"
              " total=%zu status=%s first_error=%s\n",
              threads, seconds, ops.load(), allocs.load(), frees.load(), ooms.load(), errors.load(), max_live.load(),
              used_before, after.total - after.free, after.total, ErrorName(after.status),
              first_error.empty() ? "none" : first_error.c_str());
}

void CmdRtldNext(uint64_t size) { CmdAlloc(Path::kRtldNext, size); }

// fork-child: the child initialises CUDA itself, allocates, reports, and
// holds its memory until the parent runs fork-wait (or exits).
pid_t g_child = -1;
int g_child_release_fd = -1;

void CmdForkChild(uint64_t size) {
  int ready[2], release[2];
  if (pipe(ready) != 0 || pipe(release) != 0) {
    std::printf("RESULT fork-child status=PIPE_FAILED\n");
    return;
  }
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    std::printf("RESULT fork-child status=FORK_FAILED\n");
    return;
  }
  if (pid == 0) {
    close(ready[0]);
    close(release[1]);
    g_initialised = false;
    CUresult status = CUDA_ERROR_NOT_INITIALIZED;
    uint64_t bytes = size;
    if (EnsureInit()) {
      Allocation a;
      AllocOutcome o = AllocateOne(Path::kAlloc, size, &a);
      status = o.status;
      bytes = o.bytes;
    }
    std::printf("RESULT fork-child role=child pid=%d bytes=%" PRIu64 " status=%s\n", static_cast<int>(getpid()), bytes,
                ErrorName(status));
    std::fflush(stdout);
    char c = 1;
    (void)!write(ready[1], &c, 1);
    (void)!read(release[0], &c, 1);  // returns 0 when the parent closes its end
    _exit(status == CUDA_SUCCESS ? 0 : 1);
  }
  close(ready[1]);
  close(release[0]);
  char c = 0;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  g_child = pid;
  g_child_release_fd = release[1];
  std::printf("RESULT fork-child role=parent child=%d ready=%s\n", static_cast<int>(pid), n == 1 ? "yes" : "no");
}

void CmdForkWait() {
  if (g_child < 0) {
    std::printf("RESULT fork-wait status=NO_CHILD\n");
    return;
  }
  close(g_child_release_fd);
  int st = 0;
  waitpid(g_child, &st, 0);
  g_child = -1;
  std::printf("RESULT fork-wait exit=%d signal=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

// graph: builds a chain of `nodes` kernel nodes of `blocks` blocks each (a
// simulated-GPU kernel of 1 us per block), instantiates it and launches it
// `launches` times on the legacy stream.
void CmdGraph(int nodes, unsigned blocks, int launches) {
  CUmodule module;
  CUfunction fn;
  CUgraph graph;
  CUgraphExec exec;
  CUresult r = g_drv.moduleLoadData(&module, "simgpu-module 1\nkernel graph_kernel 1000\n");
  if (r == CUDA_SUCCESS) r = g_drv.moduleGetFunction(&fn, module, "graph_kernel");
  if (r == CUDA_SUCCESS) r = g_drv.graphCreate(&graph, 0);
  CUgraphNode previous = nullptr;
  for (int i = 0; i < nodes && r == CUDA_SUCCESS; ++i) {
    CUDA_KERNEL_NODE_PARAMS p{};
    p.func = fn;
    p.gridDimX = blocks;
    p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = 128;
    p.blockDimY = p.blockDimZ = 1;
    CUgraphNode node;
    r = g_drv.graphAddKernelNode(&node, graph, previous ? &previous : nullptr, previous ? 1 : 0, &p);
    previous = node;
  }
  if (r == CUDA_SUCCESS) r = g_drv.graphInstantiate(&exec, graph, 0);
  for (int i = 0; i < launches && r == CUDA_SUCCESS; ++i) r = g_drv.graphLaunch(exec, nullptr);
  if (r == CUDA_SUCCESS) r = g_drv.streamSynchronize(nullptr);
  if (r == CUDA_SUCCESS) r = g_drv.graphExecDestroy(exec);
  if (r == CUDA_SUCCESS) r = g_drv.graphDestroy(graph);
  std::printf("RESULT graph nodes=%d blocks=%u launches=%d status=%s\n", nodes, blocks, launches, ErrorName(r));
}

// lookup: asks cuGetProcAddress_v2 for (name, version, flags) and names the
// exported symbol, and the library, the answer points to (dladdr), so a test
// can see which variant - and whose function - a caller would get.
void CmdLookup(const char* name, int version, unsigned long long flags) {
  void* fn = nullptr;
  CUdriverProcAddressQueryResult query{};
  CUresult r = g_drv.getProcAddress(name, &fn, version, flags, &query);
  Dl_info info{};
  const char* symbol = "-";
  const char* library = "-";
  if (r == CUDA_SUCCESS && fn != nullptr && dladdr(fn, &info) != 0) {
    if (info.dli_sname != nullptr) symbol = info.dli_sname;
    if (info.dli_fname != nullptr) {
      library = std::strrchr(info.dli_fname, '/') ? std::strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
    }
  }
  std::printf("RESULT lookup name=%s version=%d flags=%llu status=%s query=%d symbol=%s library=%s\n", name, version,
              flags, ErrorName(r), static_cast<int>(query), symbol, library);
}

bool NeedsCuda(std::string_view cmd) {
  return cmd != "nvml-meminfo" && cmd != "ctx-create" && cmd != "fork-child" && cmd != "fork-wait" &&
         cmd != "sleep-ms";
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 2) Usage("no command");
  int i = 1;
  auto arg = [&](const char* what) -> const char* {
    if (i >= argc) Usage((std::string("missing ") + what).c_str());
    return argv[i++];
  };
  while (i < argc) {
    std::string_view cmd = argv[i++];
    if (NeedsCuda(cmd) && !EnsureInit()) {
      std::printf("RESULT skipped command=%.*s status=%s\n", static_cast<int>(cmd.size()), cmd.data(),
                  ErrorName(g_init_status));
      return 3;
    }
    if (cmd == "alloc" || cmd == "alloc-until-oom") {
      Path p;
      const char* name = arg("path");
      if (!ParsePath(name, &p)) Usage((std::string("unknown path ") + name).c_str());
      uint64_t size = ParseSize(arg("size"));
      if (cmd == "alloc") {
        CmdAlloc(p, size);
      } else {
        CmdAllocUntilOom(p, size);
      }
    } else if (cmd == "free-last") {
      CmdFreeLast();
    } else if (cmd == "free-all") {
      CmdFreeAll();
    } else if (cmd == "ipc-export-last") {
      CmdIpcExportLast();
    } else if (cmd == "managed-last") {
      CmdManagedLast();
    } else if (cmd == "meminfo") {
      CmdMemInfo();
    } else if (cmd == "nvml-meminfo") {
      CmdNvmlMemInfo();
    } else if (cmd == "ctx-create") {
      CmdCtxCreate();
    } else if (cmd == "hold") {
      CmdHold(std::atof(arg("seconds")));
    } else if (cmd == "sleep-ms") {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(arg("milliseconds"))));
    } else if (cmd == "stress") {
      int threads = std::atoi(arg("threads"));
      double seconds = std::atof(arg("seconds"));
      if (threads <= 0 || seconds <= 0) Usage("stress needs threads > 0 and seconds > 0");
      CmdStress(threads, seconds);
    } else if (cmd == "rtld-next") {
      CmdRtldNext(ParseSize(arg("size")));
    } else if (cmd == "fork-child") {
      CmdForkChild(ParseSize(arg("size")));
    } else if (cmd == "fork-wait") {
      CmdForkWait();
    } else if (cmd == "graph") {
      int nodes = std::atoi(arg("nodes"));
      int blocks = std::atoi(arg("blocks"));
      int launches = std::atoi(arg("launches"));
      if (nodes <= 0 || blocks <= 0 || launches <= 0) Usage("graph needs nodes, blocks and launches > 0");
      CmdGraph(nodes, static_cast<unsigned>(blocks), launches);
    } else if (cmd == "lookup") {
      const char* name = arg("name");
      int version = std::atoi(arg("version"));
      CmdLookup(name, version, std::strtoull(arg("flags"), nullptr, 10));
    } else {
      Usage((std::string("unknown command ") + std::string(cmd)).c_str());
    }
  }
  if (g_child >= 0) CmdForkWait();
  return 0;
}
