// cuGetProcAddress / cuGetProcAddress_v2: how the CUDA runtime (and PyTorch,
// and anything built on it) reaches the driver. The real driver picks the
// variant for (name, cudaVersion, flags); the shim then substitutes its hook
// for exactly that variant, recognised by the pointer the driver returned.
// Names the shim does not hook pass through untouched.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>

#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"
#include "shim/util/log.h"

// The exported hooks (cuda_exports.cc), whose addresses are handed out.
#define TGS_CUDA_HOOK(name, params, args) TGS_EXPORT CUresult name params;
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK

namespace tgs {
namespace {

struct HookedSymbol {
  const char* name;
  void* hook;
};

const HookedSymbol kHookedSymbols[] = {
#define TGS_CUDA_HOOK(name, params, args) {#name, reinterpret_cast<void*>(&::name)},
#include "shim/interpose/cuda_hooks.def"
#undef TGS_CUDA_HOOK
};
constexpr size_t kHookCount = sizeof(kHookedSymbols) / sizeof(kHookedSymbols[0]);

// The real driver's address of each hooked symbol, in kHookedSymbols order.
struct RealAddresses {
  void* address[kHookCount];
};

const RealAddresses& Addresses() {
  static const RealAddresses addresses = [] {
    RealAddresses a{};
    void* handle = Runtime::Get().real().handle;
    for (size_t i = 0; i < kHookCount; ++i) a.address[i] = handle ? dlsym(handle, kHookedSymbols[i].name) : nullptr;
    return a;
  }();
  return addresses;
}

const HookedSymbol* HookNamed(const char* name) {
  for (const HookedSymbol& h : kHookedSymbols) {
    if (std::strcmp(h.name, name) == 0) return &h;
  }
  return nullptr;
}

// When a driver hands out an address that is not one of its exported symbols,
// fall back to cuda.h's versioning rules to name the variant it returned.
const HookedSymbol* HookByVersion(const char* symbol, int version, cuuint64_t flags) {
  struct Versioned {
    const char* base;
    int v2_from;  // cudaVersion from which the _v2 variant is returned
  };
  static constexpr Versioned kV2[] = {
      {"cuMemAlloc", 3020},      {"cuMemAllocPitch", 3020}, {"cuMemFree", 3020},        {"cuMemGetInfo", 3020},
      {"cuDeviceTotalMem", 3020}, {"cuArrayCreate", 3020},  {"cuArray3DCreate", 3020}, {"cuGetProcAddress", 12000},
  };
  char name[96];
  for (const Versioned& v : kV2) {
    if (std::strcmp(symbol, v.base) == 0) {
      std::snprintf(name, sizeof name, "%s%s", v.base, version >= v.v2_from ? "_v2" : "");
      return HookNamed(name);
    }
  }
  if (std::strcmp(symbol, "cuGraphInstantiate") == 0) {
    return HookNamed(version >= 12000 ? "cuGraphInstantiateWithFlags"
                                      : version >= 11000 ? "cuGraphInstantiate_v2" : "cuGraphInstantiate");
  }
  if (std::strcmp(symbol, "cuCtxCreate") == 0) {
    const char* suffix = version >= 12050 ? "_v4" : version >= 11040 ? "_v3" : version >= 3020 ? "_v2" : "";
    std::snprintf(name, sizeof name, "cuCtxCreate%s", suffix);
    return HookNamed(name);
  }
  if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) {
    std::snprintf(name, sizeof name, "%s_ptsz", symbol);
    if (const HookedSymbol* h = HookNamed(name)) return h;
  }
  return HookNamed(symbol);
}

void Substitute(const char* api, const char* symbol, void** pfn, int version, cuuint64_t flags) {
  if (symbol == nullptr || pfn == nullptr || *pfn == nullptr) return;
  const RealAddresses& real = Addresses();
  const HookedSymbol* hook = nullptr;
  for (size_t i = 0; i < kHookCount && hook == nullptr; ++i) {
    if (real.address[i] == *pfn) hook = &kHookedSymbols[i];
  }
  if (hook == nullptr) {
    // Only names the shim hooks can need the fallback; others pass through.
    hook = HookByVersion(symbol, version, flags);
    bool pointer_is_exported_symbol = false;
    for (size_t i = 0; i < kHookCount; ++i) pointer_is_exported_symbol |= real.address[i] == *pfn;
    if (hook == nullptr || pointer_is_exported_symbol) return;
  }
  TGS_LOG_DEBUG("%s(\"%s\", %d, flags %llu) -> tgs hook %s", api, symbol, version,
                static_cast<unsigned long long>(flags), hook->name);
  *pfn = hook->hook;
}

// With no real driver, answer with the shim's own exports - hooks, and
// trampolines that report CUDA_ERROR_NOT_INITIALIZED - so that the caller
// reaches cuInit, which reports CUDA_ERROR_NO_DEVICE and logs why, as on a
// machine whose driver finds no GPU.
CUresult AnswerWithoutDriver(const char* symbol, void** pfn, int version, cuuint64_t flags,
                             CUdriverProcAddressQueryResult* status) {
  Runtime::Get().CheckUsable();  // logs the reason once
  if (symbol == nullptr || pfn == nullptr) return CUDA_ERROR_INVALID_VALUE;
  void* fn = nullptr;
  if (const HookedSymbol* hook = HookByVersion(symbol, version, flags)) {
    fn = hook->hook;
  } else {
    static void* self = [] {
      Dl_info info{};
      dladdr(reinterpret_cast<const void*>(&::cuInit), &info);
      return info.dli_fname ? dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD) : nullptr;
    }();
    fn = self ? dlsym(self, symbol) : nullptr;
  }
  *pfn = fn;
  if (status) *status = fn ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  return fn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

}  // namespace

namespace hooks {

CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult* symbolStatus) {
  if (Runtime::Get().real().handle == nullptr) {
    return AnswerWithoutDriver(symbol, pfn, cudaVersion, flags, symbolStatus);
  }
  CUresult r = CallReal(Runtime::Get().real().cuGetProcAddress_v2, symbol, pfn, cudaVersion, flags, symbolStatus);
  if (r == CUDA_SUCCESS) Substitute("cuGetProcAddress_v2", symbol, pfn, cudaVersion, flags);
  return r;
}

CUresult cuGetProcAddress(const char* symbol, void** pfn, int cudaVersion, cuuint64_t flags) {
  if (Runtime::Get().real().handle == nullptr) {
    return AnswerWithoutDriver(symbol, pfn, cudaVersion, flags, nullptr);
  }
  CUresult r = CallReal(Runtime::Get().real().cuGetProcAddress, symbol, pfn, cudaVersion, flags);
  if (r == CUDA_SUCCESS) Substitute("cuGetProcAddress", symbol, pfn, cudaVersion, flags);
  return r;
}

}  // namespace hooks
}  // namespace tgs
