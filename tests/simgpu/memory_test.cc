#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "tests/simgpu/sim_env.h"

namespace {

class SimGpuMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_ = simtest::InitPrimary();
    ASSERT_NE(ctx_, nullptr);
    base_ = simtest::UsedBytes();
  }
  size_t Charged() { return simtest::UsedBytes() - base_; }
  CUcontext ctx_ = nullptr;
  size_t base_ = 0;
};

TEST(SimGpuErrors, NotInitializedBeforeCuInit) {
  simtest::SegmentName();
  CUdeviceptr p;
  int count;
  EXPECT_EQ(cuDeviceGetCount(&count), CUDA_ERROR_NOT_INITIALIZED);
  EXPECT_EQ(cuMemAlloc(&p, 1024), CUDA_ERROR_NOT_INITIALIZED);
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  EXPECT_EQ(cuMemAlloc(&p, 1024), CUDA_ERROR_INVALID_CONTEXT);  // no current context
  EXPECT_EQ(cuDeviceGetCount(nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuDeviceGetCount(&count), CUDA_SUCCESS);
  EXPECT_EQ(count, 2);
  const char* name = nullptr;
  EXPECT_EQ(cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &name), CUDA_SUCCESS);
  EXPECT_STREQ(name, "CUDA_ERROR_OUT_OF_MEMORY");
  EXPECT_EQ(cuGetExportTable(nullptr, nullptr), CUDA_ERROR_NOT_SUPPORTED);
}

TEST_F(SimGpuMemory, DeviceAllocChargesAndCopiesAreReal) {
  CUdeviceptr p = 0;
  ASSERT_EQ(cuMemAlloc(&p, 64 << 20), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 64u << 20);
  std::vector<uint32_t> host(1024, 7), back(1024, 0);
  ASSERT_EQ(cuMemcpyHtoD(p, host.data(), 4096), CUDA_SUCCESS);
  ASSERT_EQ(cuMemsetD32(p + 4096, 0xabcdef01u, 1024), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyDtoD(p + 8192, p + 4096, 4096), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyDtoH(back.data(), p + 8192, 4096), CUDA_SUCCESS);
  EXPECT_EQ(back[17], 0xabcdef01u);
  ASSERT_EQ(cuMemcpyDtoH(back.data(), p, 4096), CUDA_SUCCESS);
  EXPECT_EQ(back[5], 7u);
  CUdeviceptr base;
  size_t size;
  ASSERT_EQ(cuMemGetAddressRange(&base, &size, p + 100), CUDA_SUCCESS);
  EXPECT_EQ(base, p);
  EXPECT_EQ(size, 64u << 20);
  int ordinal = -1;
  unsigned type = 0;
  CUcontext owner = nullptr;
  EXPECT_EQ(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p), CUDA_SUCCESS);
  EXPECT_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p), CUDA_SUCCESS);
  EXPECT_EQ(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, p), CUDA_SUCCESS);
  EXPECT_EQ(ordinal, 0);
  EXPECT_EQ(type, static_cast<unsigned>(CU_MEMORYTYPE_DEVICE));
  EXPECT_EQ(owner, ctx_);
  EXPECT_EQ(cuMemFree(p), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);
  EXPECT_EQ(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuMemAlloc(nullptr, 16), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(SimGpuMemory, CapacityIsEnforcedAndHugeAllocationsCostNoRam) {
  CUdeviceptr a = 0, b = 0;
  ASSERT_EQ(cuMemAlloc(&a, 3ULL << 30), CUDA_SUCCESS);  // MAP_NORESERVE: free until touched
  EXPECT_EQ(cuMemAlloc(&b, 2ULL << 30), CUDA_ERROR_OUT_OF_MEMORY);
  size_t free_bytes, total;
  ASSERT_EQ(cuMemGetInfo(&free_bytes, &total), CUDA_SUCCESS);
  EXPECT_EQ(total, simtest::kDeviceMemory);
  EXPECT_EQ(free_bytes, simtest::kDeviceMemory - base_ - (3ULL << 30));
  ASSERT_EQ(cuMemFree(a), CUDA_SUCCESS);
  EXPECT_EQ(cuMemAlloc(&b, 2ULL << 30), CUDA_SUCCESS);
  EXPECT_EQ(cuMemFree(b), CUDA_SUCCESS);
}

TEST_F(SimGpuMemory, PitchManagedHostAndArrays) {
  CUdeviceptr p;
  size_t pitch = 0;
  ASSERT_EQ(cuMemAllocPitch(&p, &pitch, 1000, 100, 4), CUDA_SUCCESS);
  EXPECT_EQ(pitch, 1024u);
  EXPECT_EQ(Charged(), 1024u * 100);
  ASSERT_EQ(cuMemFree(p), CUDA_SUCCESS);

  ASSERT_EQ(cuMemAllocManaged(&p, 1 << 20, CU_MEM_ATTACH_GLOBAL), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);  // populated on first touch (managed_test.cc)
  CUmemLocation loc{CU_MEM_LOCATION_TYPE_DEVICE, 0};
  EXPECT_EQ(cuMemPrefetchAsync(p, 1 << 20, loc, 0, nullptr), CUDA_SUCCESS);
  EXPECT_EQ(cuMemAdvise(p, 1 << 20, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, loc), CUDA_SUCCESS);
  ASSERT_EQ(cuMemFree(p), CUDA_SUCCESS);

  void* host = nullptr;
  ASSERT_EQ(cuMemAllocHost(&host, 8 << 20), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);  // pinned host memory is not device memory
  unsigned type = 0;
  EXPECT_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, reinterpret_cast<CUdeviceptr>(host)),
            CUDA_SUCCESS);
  EXPECT_EQ(type, static_cast<unsigned>(CU_MEMORYTYPE_HOST));
  EXPECT_EQ(cuMemFreeHost(host), CUDA_SUCCESS);

  CUDA_ARRAY_DESCRIPTOR d{};
  d.Width = 1024;
  d.Height = 512;
  d.Format = CU_AD_FORMAT_FLOAT;
  d.NumChannels = 4;
  CUarray array;
  ASSERT_EQ(cuArrayCreate(&array, &d), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 1024u * 512 * 16);
  CUDA_ARRAY_DESCRIPTOR back{};
  EXPECT_EQ(cuArrayGetDescriptor(&back, array), CUDA_SUCCESS);
  EXPECT_EQ(back.Width, 1024u);
  ASSERT_EQ(cuArrayDestroy(array), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);

  CUDA_ARRAY3D_DESCRIPTOR d3{};
  d3.Width = 64;
  d3.Height = 64;
  d3.Depth = 64;
  d3.Format = CU_AD_FORMAT_UNSIGNED_INT8;
  d3.NumChannels = 1;
  ASSERT_EQ(cuArray3DCreate(&array, &d3), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 64u * 64 * 64);
  ASSERT_EQ(cuArrayDestroy(array), CUDA_SUCCESS);

  CUmipmappedArray mip;
  d3.Depth = 0;
  ASSERT_EQ(cuMipmappedArrayCreate(&mip, &d3, 3), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 64u * 64 + 32 * 32 + 16 * 16);
  ASSERT_EQ(cuMipmappedArrayDestroy(mip), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);
}

TEST_F(SimGpuMemory, PoolsKeepFreedBlocksUntilThresholdOrTrim) {
  CUstream s;
  ASSERT_EQ(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  CUmemoryPool pool;
  ASSERT_EQ(cuDeviceGetDefaultMemPool(&pool, 0), CUDA_SUCCESS);
  cuuint64_t threshold = 64ULL << 20;
  ASSERT_EQ(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &threshold), CUDA_SUCCESS);
  CUdeviceptr p;
  ASSERT_EQ(cuMemAllocAsync(&p, 32 << 20, s), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 32u << 20);
  ASSERT_EQ(cuMemFreeAsync(p, s), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 32u << 20);  // under the threshold: stays reserved
  cuuint64_t reserved = 0, used = 1;
  cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved);
  cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used);
  EXPECT_EQ(reserved, 32u << 20);
  EXPECT_EQ(used, 0u);
  CUdeviceptr q;
  ASSERT_EQ(cuMemAllocAsync(&q, 32 << 20, s), CUDA_SUCCESS);  // reuses the parked block
  EXPECT_EQ(q, p);
  EXPECT_EQ(Charged(), 32u << 20);
  ASSERT_EQ(cuMemFreeAsync(q, s), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  ASSERT_EQ(cuMemPoolTrimTo(pool, 0), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);

  threshold = 0;  // the default: give everything back at the next sync
  ASSERT_EQ(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &threshold), CUDA_SUCCESS);
  CUmemPoolProps props{};
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location = {CU_MEM_LOCATION_TYPE_DEVICE, 1};
  CUmemoryPool own;
  ASSERT_EQ(cuMemPoolCreate(&own, &props), CUDA_SUCCESS);
  ASSERT_EQ(cuMemAllocFromPoolAsync(&p, 16 << 20, own, s), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(1), 16u << 20);  // charged to the pool's device
  ASSERT_EQ(cuMemFreeAsync(p, s), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(1), 0u);
  EXPECT_EQ(cuMemPoolDestroy(own), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamDestroy(s), CUDA_SUCCESS);
}

TEST_F(SimGpuMemory, VmmFromThreadWithoutContextChargesPropDevice) {
  size_t before1 = simtest::UsedBytes(1);
  CUmemGenericAllocationHandle handle = 0, host_handle = 0;
  std::thread([&] {
    CUcontext none = nullptr;
    cuCtxGetCurrent(&none);
    EXPECT_EQ(none, nullptr);
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location = {CU_MEM_LOCATION_TYPE_DEVICE, 1};
    size_t gran = 0;
    EXPECT_EQ(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM), CUDA_SUCCESS);
    EXPECT_EQ(gran, 2u << 20);
    EXPECT_EQ(cuMemCreate(&handle, 8 << 20, &prop, 0), CUDA_SUCCESS);
    EXPECT_EQ(cuMemCreate(&handle, 3 << 20, &prop, 0), CUDA_ERROR_INVALID_VALUE);  // not a granularity multiple
    prop.location = {CU_MEM_LOCATION_TYPE_HOST, 0};
    EXPECT_EQ(cuMemCreate(&host_handle, 8 << 20, &prop, 0), CUDA_SUCCESS);
  }).join();
  EXPECT_EQ(simtest::UsedBytes(1) - before1, 8u << 20);
  EXPECT_EQ(Charged(), 0u);  // device 0 untouched; host location not device memory
  CUmemAllocationProp back{};
  ASSERT_EQ(cuMemGetAllocationPropertiesFromHandle(&back, handle), CUDA_SUCCESS);
  EXPECT_EQ(back.location.id, 1);

  CUdeviceptr va;
  ASSERT_EQ(cuMemAddressReserve(&va, 16 << 20, 0, 0, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuMemMap(va, 8 << 20, 0, handle, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuMemMap(va + (8 << 20), 8 << 20, 0, handle, 0), CUDA_SUCCESS);  // same memory twice
  CUmemAccessDesc access{{CU_MEM_LOCATION_TYPE_DEVICE, 1}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  ASSERT_EQ(cuMemSetAccess(va, 16 << 20, &access, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuMemsetD8(va + 10, 0x5a, 1), CUDA_SUCCESS);
  unsigned char seen = 0;
  ASSERT_EQ(cuMemcpyDtoH(&seen, va + (8 << 20) + 10, 1), CUDA_SUCCESS);
  EXPECT_EQ(seen, 0x5a);
  ASSERT_EQ(cuMemRelease(handle), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(1) - before1, 8u << 20);  // still mapped
  ASSERT_EQ(cuMemUnmap(va, 16 << 20), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(1), before1);
  EXPECT_EQ(cuMemAddressFree(va, 16 << 20), CUDA_SUCCESS);
  EXPECT_EQ(cuMemRelease(host_handle), CUDA_SUCCESS);
}

TEST_F(SimGpuMemory, ContextDestroyFreesItsAllocations) {
  CUcontext own;
  ASSERT_EQ(cuCtxCreate(&own, nullptr, 0, 0), CUDA_SUCCESS);
  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc(&p, 128 << 20), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 128u << 20);
  ASSERT_EQ(cuCtxDestroy(own), CUDA_SUCCESS);
  EXPECT_EQ(Charged(), 0u);
}

}  // namespace
