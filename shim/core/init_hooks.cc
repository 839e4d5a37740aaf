// cuInit and context creation: where a process with an invalid TGS
// configuration, or without a reachable driver, is stopped before it can use
// the GPU unaccounted.
#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"

namespace tgs::hooks {
namespace {

template <typename Fn, typename... Args>
CUresult GuardedCreate(Fn fn, Args... args) {
  Runtime& rt = Runtime::Get();
  if (CUresult refusal = rt.CheckUsable(); refusal != CUDA_SUCCESS) return refusal;
  // cuInit attaches the accounting; a caller that reaches context creation
  // without it gets the driver's own CUDA_ERROR_NOT_INITIALIZED.
  return CallReal(fn, args...);
}

}  // namespace

CUresult cuInit(unsigned int Flags) {
  Runtime& rt = Runtime::Get();
  if (CUresult refusal = rt.CheckUsable(); refusal != CUDA_SUCCESS) return refusal;
  CUresult r = CallReal(rt.real().cuInit, Flags);
  if (r != CUDA_SUCCESS) return r;
  return rt.AttachAccounting();
}

CUresult cuCtxCreate(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  return GuardedCreate(Runtime::Get().real().cuCtxCreate, pctx, flags, dev);
}
CUresult cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  return GuardedCreate(Runtime::Get().real().cuCtxCreate_v2, pctx, flags, dev);
}
CUresult cuCtxCreate_v3(CUcontext* pctx, CUexecAffinityParam* paramsArray, int numParams, unsigned int flags,
                        CUdevice dev) {
  return GuardedCreate(Runtime::Get().real().cuCtxCreate_v3, pctx, paramsArray, numParams, flags, dev);
}
CUresult cuCtxCreate_v4(CUcontext* pctx, CUctxCreateParams* ctxCreateParams, unsigned int flags, CUdevice dev) {
  return GuardedCreate(Runtime::Get().real().cuCtxCreate_v4, pctx, ctxCreateParams, flags, dev);
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  return GuardedCreate(Runtime::Get().real().cuDevicePrimaryCtxRetain, pctx, dev);
}

}  // namespace tgs::hooks
