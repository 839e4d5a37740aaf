// cuGetErrorName / cuGetErrorString from the table in errors.def.
#include "tools/simgpu/cuda_api.h"

SIMGPU_EXPORT CUresult cuGetErrorName(CUresult error, const char** str) {
  if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
#define SIMGPU_ERROR(name, text) \
  case name:                     \
    *str = #name;                \
    return CUDA_SUCCESS;
#include "tools/simgpu/errors.def"
#undef SIMGPU_ERROR
    default:
      *str = nullptr;
      return CUDA_ERROR_INVALID_VALUE;
  }
}

SIMGPU_EXPORT CUresult cuGetErrorString(CUresult error, const char** str) {
  if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
#define SIMGPU_ERROR(name, text) \
  case name:                     \
    *str = text;                 \
    return CUDA_SUCCESS;
#include "tools/simgpu/errors.def"
#undef SIMGPU_ERROR
    default:
      *str = nullptr;
      return CUDA_ERROR_INVALID_VALUE;
  }
}
