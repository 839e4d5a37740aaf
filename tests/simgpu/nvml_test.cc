#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "shim/nvml/nvml_abi.h"
#include "tests/simgpu/sim_env.h"
#include "tools/simgpu/simgpu_module.h"

namespace {

TEST(SimGpuNvml, AgreesWithCudaOnUuidAndMemory) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  unsigned n = 0;
  ASSERT_EQ(nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
  EXPECT_EQ(n, 2u);
  for (unsigned i = 0; i < n; ++i) {
    CUuuid uuid;
    ASSERT_EQ(cuDeviceGetUuid(&uuid, static_cast<CUdevice>(i)), CUDA_SUCCESS);
    const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
    char expected[64];
    std::snprintf(expected, sizeof expected,
                  "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
                  b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    nvmlDevice_t dev;
    ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(i, &dev), NVML_SUCCESS);
    char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    ASSERT_EQ(nvmlDeviceGetUUID(dev, text, sizeof text), NVML_SUCCESS);
    EXPECT_STREQ(text, expected);
    nvmlDevice_t by_uuid;
    ASSERT_EQ(nvmlDeviceGetHandleByUUID(text, &by_uuid), NVML_SUCCESS);
    EXPECT_EQ(by_uuid, dev);
  }
  CUuuid u0, u1;
  cuDeviceGetUuid(&u0, 0);
  cuDeviceGetUuid(&u1, 1);
  EXPECT_NE(0, memcmp(u0.bytes, u1.bytes, 16));

  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc(&p, 512 << 20), CUDA_SUCCESS);
  nvmlDevice_t dev;
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
  nvmlMemory_t m;
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev, &m), NVML_SUCCESS);
  size_t free_bytes, total;
  ASSERT_EQ(cuMemGetInfo(&free_bytes, &total), CUDA_SUCCESS);
  EXPECT_EQ(m.total, total);
  EXPECT_EQ(m.free, free_bytes);
  EXPECT_EQ(m.used, 512u << 20);
  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  ASSERT_EQ(nvmlDeviceGetMemoryInfo_v2(dev, &m2), NVML_SUCCESS);
  EXPECT_EQ(m2.used, 512u << 20);
  m2.version = 1;
  EXPECT_EQ(nvmlDeviceGetMemoryInfo_v2(dev, &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  cuMemFree(p);
  nvmlShutdown();
}

TEST(SimGpuNvml, UtilizationFollowsDeviceActivity) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  nvmlDevice_t dev;
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
  nvmlUtilization_t u;
  ASSERT_EQ(nvmlDeviceGetUtilizationRates(dev, &u), NVML_SUCCESS);
  EXPECT_EQ(u.gpu, 0u);
  simgpu::ModuleImage image;
  image.AddKernel("k", 10000000);  // 10 ms per wave
  CUmodule m;
  CUfunction f;
  ASSERT_EQ(cuModuleLoadData(&m, image.Text()), CUDA_SUCCESS);
  ASSERT_EQ(cuModuleGetFunction(&f, m, "k"), CUDA_SUCCESS);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr), CUDA_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(nvmlDeviceGetUtilizationRates(dev, &u), NVML_SUCCESS);
  EXPECT_GE(u.gpu, 25u);  // ~300 ms busy in the last second
  EXPECT_LE(u.gpu, 40u);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  ASSERT_EQ(nvmlDeviceGetUtilizationRates(dev, &u), NVML_SUCCESS);
  EXPECT_GE(u.gpu, 45u);  // 500 ms of kernels in the last second
  EXPECT_LE(u.gpu, 60u);
  nvmlShutdown();
}

TEST(SimGpuNvml, BadConfigurationIsReported) {
  setenv("TGS_SIM_SHM", "tgs-simtest-badconfig", 1);
  setenv("TGS_SIM_DEVICES", "9", 1);
  EXPECT_NE(nvmlInit_v2(), NVML_SUCCESS);
  EXPECT_EQ(cuInit(0), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
