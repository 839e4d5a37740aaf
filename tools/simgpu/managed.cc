// Advice and attributes apply to whole allocations: residency is tracked per
// allocation (residency.h), so advising part of one advises all of it.
#include "tools/simgpu/managed.h"

#include "tools/simgpu/driver.h"
#include "tools/simgpu/memory.h"
#include "tools/simgpu/residency.h"
#include "tools/simgpu/stream.h"

namespace simgpu {

namespace {
bool ValidLocation(const CUmemLocation& loc) {
  switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
      return ValidDevice(loc.id);
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
      return true;
    default:
      return false;
  }
}

// A device ordinal, or kHostLocation for every host location type.
int LocationIndex(const CUmemLocation& loc) {
  return loc.type == CU_MEM_LOCATION_TYPE_DEVICE ? loc.id : kHostLocation;
}

// The managed allocation holding all of [ptr, ptr+count).
bool FindManaged(CUdeviceptr ptr, size_t count, Allocation* a) {
  return count != 0 && LookupAllocation(ptr, a) && a->kind == AllocKind::kManaged && ptr + count <= a->base + a->size;
}

// CUDA reports locations in range attributes as device ordinals, CU_DEVICE_CPU or CU_DEVICE_INVALID.
int PreferredOrdinal(const ManagedRange& r) {
  switch (r.preferred) {
    case kPreferHost:
      return CU_DEVICE_CPU;
    case kPreferDevice:
      return r.preferred_device;
    default:
      return CU_DEVICE_INVALID;
  }
}
// The (type, id) form of the same: CUDA 12.2's location-typed attributes.
CUmemLocationType LocationTypeOf(int ordinal) {
  if (ordinal == CU_DEVICE_CPU) return CU_MEM_LOCATION_TYPE_HOST;
  return ordinal >= 0 ? CU_MEM_LOCATION_TYPE_DEVICE : CU_MEM_LOCATION_TYPE_INVALID;
}
int LocationIdOf(int ordinal) { return ordinal >= 0 ? ordinal : 0; }  // "to be ignored" unless a device
}  // namespace

CUresult PrefetchManaged(CUdeviceptr ptr, size_t count, CUmemLocation location, CUstream stream, bool per_thread) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  std::shared_ptr<Stream> s;
  if (CUresult rc = ResolveStream(stream, per_thread, &s); rc != CUDA_SUCCESS) return rc;
  Allocation a;
  if (!FindManaged(ptr, count, &a) || !ValidLocation(location)) return CUDA_ERROR_INVALID_VALUE;
  int target = LocationIndex(location);
  // The attribute is the last location asked for, not where data has arrived.
  int ordinal = target == kHostLocation ? CU_DEVICE_CPU : target;
  EditManagedRange(a.managed, [ordinal](ManagedRange& r) { r.last_prefetch = ordinal; });
  Op op;
  op.kind = Op::kPrefetch;
  op.managed.push_back(a.managed);
  op.prefetch_bytes = count;
  op.prefetch_location = target;
  return Enqueue(s, std::move(op));
}

CUresult AdviseManaged(CUdeviceptr ptr, size_t count, CUmem_advise advice, CUmemLocation location) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  Allocation a;
  if (!FindManaged(ptr, count, &a)) return CUDA_ERROR_INVALID_VALUE;
  bool needs_location = advice == CU_MEM_ADVISE_SET_PREFERRED_LOCATION || advice == CU_MEM_ADVISE_SET_ACCESSED_BY ||
                        advice == CU_MEM_ADVISE_UNSET_ACCESSED_BY;
  if (needs_location && !ValidLocation(location)) return CUDA_ERROR_INVALID_VALUE;
  int where = LocationIndex(location);
  // Accessed-by the host is the default for managed memory; only devices are recorded.
  uint32_t device_bit = where == kHostLocation ? 0 : 1u << where;
  std::function<void(ManagedRange&)> edit;
  switch (advice) {
    case CU_MEM_ADVISE_SET_READ_MOSTLY:
      edit = [](ManagedRange& r) { r.read_mostly = 1; };
      break;
    case CU_MEM_ADVISE_UNSET_READ_MOSTLY:
      edit = [](ManagedRange& r) { r.read_mostly = 0; };
      break;
    case CU_MEM_ADVISE_SET_PREFERRED_LOCATION:
      edit = [where](ManagedRange& r) {
        r.preferred = where == kHostLocation ? kPreferHost : kPreferDevice;
        r.preferred_device = static_cast<int16_t>(where == kHostLocation ? 0 : where);
      };
      break;
    case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION:
      edit = [](ManagedRange& r) { r.preferred = kPreferNone; };
      break;
    case CU_MEM_ADVISE_SET_ACCESSED_BY:
      edit = [device_bit](ManagedRange& r) { r.accessed_by |= device_bit; };
      break;
    case CU_MEM_ADVISE_UNSET_ACCESSED_BY:
      edit = [device_bit](ManagedRange& r) { r.accessed_by &= ~device_bit; };
      break;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
  return EditManagedRange(a.managed, edit) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult ManagedRangeAttribute(void* data, size_t size, CUmem_range_attribute attribute, CUdeviceptr ptr,
                               size_t count) {
  if (CUresult rc = CheckInit(); rc != CUDA_SUCCESS) return rc;
  Allocation a;
  if (data == nullptr || !FindManaged(ptr, count, &a)) return CUDA_ERROR_INVALID_VALUE;
  ManagedRange range{};
  if (!EditManagedRange(a.managed, [&](ManagedRange& r) { range = r; })) return CUDA_ERROR_INVALID_VALUE;
  auto* out = static_cast<int*>(data);
  if (attribute != CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY && size != sizeof(int)) return CUDA_ERROR_INVALID_VALUE;
  switch (attribute) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
      *out = range.read_mostly;
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
      *out = PreferredOrdinal(range);
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE:
      *static_cast<CUmemLocationType*>(data) = LocationTypeOf(PreferredOrdinal(range));
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID:
      *out = LocationIdOf(PreferredOrdinal(range));
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
      *out = range.last_prefetch;
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE:
      *static_cast<CUmemLocationType*>(data) = LocationTypeOf(range.last_prefetch);
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID:
      *out = LocationIdOf(range.last_prefetch);
      return CUDA_SUCCESS;
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: {
      if (size == 0 || size % sizeof(int) != 0) return CUDA_ERROR_INVALID_VALUE;
      size_t slots = size / sizeof(int), n = 0;
      for (int d = 0; d < kMaxDevices && n < slots; ++d) {
        if ((range.accessed_by & (1u << d)) != 0) out[n++] = d;
      }
      while (n < slots) out[n++] = CU_DEVICE_INVALID;
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

}  // namespace simgpu
