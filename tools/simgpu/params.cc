#include "tools/simgpu/params.h"

#include <algorithm>
#include <cstring>

#include "tools/simgpu/memory.h"
#include "tools/simgpu/module.h"

namespace simgpu {
namespace {

void AddIfManaged(CUdeviceptr value, std::vector<ManagedHandle>* out) {
  Allocation a;
  if (!LookupAllocation(value, &a) || a.kind != AllocKind::kManaged) return;
  bool seen = std::any_of(out->begin(), out->end(), [&](const ManagedHandle& h) { return h.index == a.managed.index; });
  if (!seen) out->push_back(a.managed);
}

CUresult FromBuffer(const Function& f, void** extra, bool look_up, std::vector<ManagedHandle>* out) {
  const char* buffer = nullptr;
  const size_t* size = nullptr;
  for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
    if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) {
      buffer = static_cast<const char*>(extra[i + 1]);
    } else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
      size = static_cast<const size_t*>(extra[i + 1]);
    } else {
      return CUDA_ERROR_INVALID_VALUE;
    }
  }
  if (f.params.empty()) return CUDA_SUCCESS;
  if (buffer == nullptr || size == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t offset = 0;
  for (ParamType t : f.params) {
    size_t n = ParamSize(t);
    offset = (offset + n - 1) / n * n;
    if (offset + n > *size) return CUDA_ERROR_INVALID_VALUE;
    if (look_up && t == ParamType::kPtr) {
      CUdeviceptr value;
      std::memcpy(&value, buffer + offset, sizeof value);  // the buffer need not be aligned itself
      AddIfManaged(value, out);
    }
    offset += n;
  }
  return CUDA_SUCCESS;
}

}  // namespace

CUresult ManagedArguments(const Function& f, void** params, void** extra, std::vector<ManagedHandle>* out) {
  out->clear();
  if (params != nullptr && extra != nullptr) return CUDA_ERROR_INVALID_VALUE;
  // Without managed memory in play no argument is looked up, but a malformed
  // `extra` is an error either way.
  bool look_up = f.has_ptr_params && HaveManagedAllocations();
  if (extra != nullptr) return FromBuffer(f, extra, look_up, out);
  if (!look_up || params == nullptr) return CUDA_SUCCESS;
  for (size_t i = 0; i < f.params.size(); ++i) {
    if (f.params[i] != ParamType::kPtr || params[i] == nullptr) continue;
    CUdeviceptr value;
    std::memcpy(&value, params[i], sizeof value);
    AddIfManaged(value, out);
  }
  return CUDA_SUCCESS;
}

}  // namespace simgpu
