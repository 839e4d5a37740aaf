// CUDA IPC export. Managed memory cannot be exported to another process, so
// an oversubscribing container's converted allocations are refused here
// with a clear error instead of whatever the driver would make of them.
#include "shim/core/runtime.h"
#include "shim/interpose/hooks.h"
#include "shim/memory/residency.h"
#include "shim/util/log.h"

namespace tgs::hooks {

CUresult cuIpcGetMemHandle(CUipcMemHandle* pHandle, CUdeviceptr dptr) {
  if (residency::IsManaged(dptr)) {
    TGS_LOG_WARN("cuIpcGetMemHandle refused with CUDA_ERROR_NOT_SUPPORTED: the allocation is unified memory because "
                 "container '%s' (class %s) oversubscribes, and unified memory cannot be shared by CUDA IPC; give "
                 "the container a class with oversubscribe: false to share device memory between processes",
                 Runtime::Get().policy().container_key.c_str(), Runtime::Get().policy().class_name.c_str());
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  return CallReal(Runtime::Get().real().cuIpcGetMemHandle, pHandle, dptr);
}

}  // namespace tgs::hooks
