// A simulated device that falls off the bus (tgs-simgpu-ctl lose) and comes
// back (restore): NVML answers NVML_ERROR_GPU_IS_LOST for it and only for
// it, new CUDA contexts on it fail, and all of it heals on restore.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "shim/nvml/nvml_abi.h"
#include "tests/simgpu/sim_env.h"

// Not in shim/nvml/nvml_abi.h (the shim does not interpose it).
extern "C" nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor);

namespace {

// Runs tgs-simgpu-ctl on this test's segment; its exit status.
int Ctl(const std::string& args) {
  std::string command = std::string(SIMGPU_CTL) + " --shm " + simtest::SegmentName() + " " + args + " >/dev/null 2>&1";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SimGpuLostDevice, NvmlAnswersGpuIsLostUntilRestored) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  nvmlDevice_t dev0, dev1;
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev0), NVML_SUCCESS);
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(1, &dev1), NVML_SUCCESS);
  char uuid1[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  ASSERT_EQ(nvmlDeviceGetUUID(dev1, uuid1, sizeof uuid1), NVML_SUCCESS);

  ASSERT_EQ(Ctl("lose 1"), 0);
  nvmlMemory_t m;
  EXPECT_EQ(nvmlDeviceGetMemoryInfo(dev1, &m), NVML_ERROR_GPU_IS_LOST);
  char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  EXPECT_EQ(nvmlDeviceGetUUID(dev1, text, sizeof text), NVML_ERROR_GPU_IS_LOST);
  nvmlDevice_t again;
  EXPECT_EQ(nvmlDeviceGetHandleByUUID(uuid1, &again), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvmlDeviceGetHandleByIndex_v2(1, &again), NVML_ERROR_GPU_IS_LOST);
  EXPECT_STREQ(nvmlErrorString(NVML_ERROR_GPU_IS_LOST), "GPU is lost");
  unsigned count = 0;
  EXPECT_EQ(nvmlDeviceGetCount_v2(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 2u) << "a lost device still enumerates";
  EXPECT_EQ(nvmlDeviceGetMemoryInfo(dev0, &m), NVML_SUCCESS) << "only the lost device fails";

  CUcontext ctx = nullptr;
  EXPECT_EQ(cuDevicePrimaryCtxRetain(&ctx, 1), CUDA_ERROR_DEVICE_UNAVAILABLE);
  EXPECT_EQ(cuCtxCreate(&ctx, nullptr, 0, 1), CUDA_ERROR_DEVICE_UNAVAILABLE);
  EXPECT_EQ(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
  cuDevicePrimaryCtxRelease(0);

  ASSERT_EQ(Ctl("restore 1"), 0);
  EXPECT_EQ(nvmlDeviceGetMemoryInfo(dev1, &m), NVML_SUCCESS);
  EXPECT_EQ(nvmlDeviceGetHandleByUUID(uuid1, &again), NVML_SUCCESS);
  EXPECT_EQ(again, dev1);
  ASSERT_EQ(cuDevicePrimaryCtxRetain(&ctx, 1), CUDA_SUCCESS);
  cuDevicePrimaryCtxRelease(1);
  unsigned minor = 99;
  EXPECT_EQ(nvmlDeviceGetMinorNumber(dev1, &minor), NVML_SUCCESS);
  EXPECT_EQ(minor, 1u);
  nvmlShutdown();
}

TEST(SimGpuLostDevice, CtlRefusesBadInput) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  EXPECT_EQ(Ctl("lose 2"), 2) << "only devices 0 and 1 exist";
  EXPECT_EQ(Ctl("lose x"), 2);
  EXPECT_EQ(Ctl("lose"), 2);
  EXPECT_EQ(Ctl("explode 0"), 2);
  EXPECT_EQ(Ctl("status"), 0);
  std::string missing = std::string(SIMGPU_CTL) + " --shm tgs-simtest-no-such-segment lose 0 >/dev/null 2>&1";
  int status = std::system(missing.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1) << "a segment nobody created is not created by the tool";
}

}  // namespace
