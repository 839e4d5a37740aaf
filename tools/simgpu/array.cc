// CUDA arrays and mipmapped arrays: opaque to the host (no backing memory is
// needed), but they occupy device memory, so they are charged like any other
// allocation: format size x channels x extent, summed over mip levels.
#include <algorithm>

#include "tools/simgpu/driver.h"
#include "tools/simgpu/ledger.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/registry.h"

namespace simgpu {
namespace {

struct ArrayObject {
  CUDA_ARRAY3D_DESCRIPTOR desc{};
  unsigned levels = 1;
  bool mipmapped = false;
  int device = 0;
  uint64_t bytes = 0;
  Context* ctx = nullptr;
};

Registry<ArrayObject>& Arrays() { return Leaked<Registry<ArrayObject>>(); }

uint64_t FormatBytes(CUarray_format f) {
  switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
    case CU_AD_FORMAT_UNORM_INT8X1:
    case CU_AD_FORMAT_SNORM_INT8X1:
      return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
    case CU_AD_FORMAT_UNORM_INT16X1:
    case CU_AD_FORMAT_SNORM_INT16X1:
      return 2;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
      return 4;
    default:
      return 0;
  }
}

}  // namespace

// Handles are registered by the address of the object; the same object serves
// as CUarray or CUmipmappedArray, so both casts go through void*.
CUresult CreateArray(const CUDA_ARRAY3D_DESCRIPTOR* desc, unsigned levels, bool mipmapped, void** out) {
  std::shared_ptr<Context> ctx;
  if (CUresult rc = CurrentContext(&ctx); rc != CUDA_SUCCESS) return rc;
  if (desc == nullptr || out == nullptr || desc->Width == 0 || levels == 0) return CUDA_ERROR_INVALID_VALUE;
  if (desc->NumChannels != 1 && desc->NumChannels != 2 && desc->NumChannels != 4) return CUDA_ERROR_INVALID_VALUE;
  uint64_t element = FormatBytes(desc->Format) * desc->NumChannels;
  if (element == 0) return CUDA_ERROR_INVALID_VALUE;
  uint64_t w = desc->Width, h = std::max<size_t>(desc->Height, 1), d = std::max<size_t>(desc->Depth, 1);
  uint64_t bytes = 0;
  for (unsigned level = 0; level < levels; ++level) {
    bytes += w * h * d * element;
    w = std::max<uint64_t>(w / 2, 1);
    if (desc->Height != 0) h = std::max<uint64_t>(h / 2, 1);
    if (desc->Depth != 0) d = std::max<uint64_t>(d / 2, 1);
  }
  if (!ChargeDevice(ctx->device, bytes)) return CUDA_ERROR_OUT_OF_MEMORY;
  auto a = std::make_shared<ArrayObject>();
  a->desc = *desc;
  a->levels = levels;
  a->mipmapped = mipmapped;
  a->device = ctx->device;
  a->bytes = bytes;
  a->ctx = ctx.get();
  Arrays().Add(a);
  *out = a.get();
  return CUDA_SUCCESS;
}

CUresult DestroyArray(void* handle, bool mipmapped) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  auto a = Arrays().Find(handle);
  if (a == nullptr || a->mipmapped != mipmapped) return CUDA_ERROR_INVALID_HANDLE;
  Arrays().Remove(handle);
  CreditDevice(a->device, a->bytes);
  return CUDA_SUCCESS;
}

CUresult ArrayDescriptor(void* handle, CUDA_ARRAY3D_DESCRIPTOR* out) {
  if (!Initialized()) return CUDA_ERROR_NOT_INITIALIZED;
  if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto a = Arrays().Find(handle);
  if (a == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  *out = a->desc;
  return CUDA_SUCCESS;
}

void FreeContextArrays(Context* ctx) {
  for (auto& a : Arrays().Select([&](ArrayObject& o) { return o.ctx == ctx; })) {
    if (Arrays().Remove(a.get()) != nullptr) CreditDevice(a->device, a->bytes);
  }
}

}  // namespace simgpu
