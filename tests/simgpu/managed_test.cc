// Unified memory on the simulated GPU: residency, eviction order, migration
// cost on the copy engine, prefetch and advice, across processes.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shim/nvml/nvml_abi.h"
#include "tests/simgpu/helper_process.h"
#include "tests/simgpu/segment_view.h"
#include "tests/simgpu/sim_env.h"
#include "tools/simgpu/simgpu_module.h"

namespace {

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kCapacity = 1ULL << 30;

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A 1 GiB device; `bandwidth` is the host link (TGS_SIM_MIGRATION_BANDWIDTH):
// fast where a test only counts bytes, slow where it measures their cost.
class SimGpuManaged : public ::testing::Test {
 protected:
  void Init(const char* bandwidth) {
    simtest::SegmentName();
    setenv("TGS_SIM_MEMORY", "1GiB", 1);
    setenv("TGS_SIM_MIGRATION_BANDWIDTH", bandwidth, 1);
    ASSERT_NE(simtest::InitPrimary(), nullptr);
    simgpu::ModuleImage image;
    image.AddKernel("touch", 1000000, {"ptr"})  // 1 ms
        .AddKernel("touch2", 1000000, {"ptr", "ptr"})
        .AddKernel("mixed", 1000000, {"i32", "ptr", "f64", "ptr"});
    ASSERT_EQ(cuModuleLoadData(&module_, image.Text()), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&touch_, module_, "touch"), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&touch2_, module_, "touch2"), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&mixed_, module_, "mixed"), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  }
  void TearDown() override {
    if (stream_ != nullptr) cuStreamDestroy(stream_);
    if (module_ != nullptr) cuModuleUnload(module_);
  }
  CUdeviceptr Managed(uint64_t bytes) {
    CUdeviceptr p = 0;
    EXPECT_EQ(cuMemAllocManaged(&p, bytes, CU_MEM_ATTACH_GLOBAL), CUDA_SUCCESS);
    return p;
  }
  // Runs `touch` on `p` and waits for it.
  CUresult Touch(CUdeviceptr p) {
    void* params[] = {&p};
    if (CUresult rc = cuLaunchKernel(touch_, 1, 1, 1, 32, 1, 1, 0, stream_, params, nullptr); rc != CUDA_SUCCESS) {
      return rc;
    }
    return cuStreamSynchronize(stream_);
  }
  CUresult Prefetch(CUdeviceptr p, uint64_t bytes, CUmemLocationType type, int id = 0) {
    CUmemLocation loc{type, id};
    if (CUresult rc = cuMemPrefetchAsync(p, bytes, loc, 0, stream_); rc != CUDA_SUCCESS) return rc;
    return cuStreamSynchronize(stream_);
  }
  CUresult Advise(CUdeviceptr p, uint64_t bytes, CUmem_advise advice, CUmemLocationType type, int id = 0) {
    return cuMemAdvise(p, bytes, advice, CUmemLocation{type, id});
  }
  CUmodule module_ = nullptr;
  CUfunction touch_ = nullptr, touch2_ = nullptr, mixed_ = nullptr;
  CUstream stream_ = nullptr;
};

TEST_F(SimGpuManaged, ChargesNothingUntilAKernelTouchesIt) {
  Init("64GiB");
  CUdeviceptr p = Managed(256 * kMiB);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(simtest::Resident(p), 0u);
  // A kernel without pointer parameters touches nothing.
  CUfunction plain;
  simgpu::ModuleImage image;
  image.AddKernel("plain", 1000);
  CUmodule m;
  ASSERT_EQ(cuModuleLoadData(&m, image.Text()), CUDA_SUCCESS);
  ASSERT_EQ(cuModuleGetFunction(&plain, m, "plain"), CUDA_SUCCESS);
  ASSERT_EQ(cuLaunchKernel(plain, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 0u);

  ASSERT_EQ(Touch(p), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 256 * kMiB);
  EXPECT_EQ(simtest::Resident(p), 256 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().migrated, 256 * kMiB);
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);  // already resident: nothing moves
  EXPECT_EQ(simtest::TrafficOf().migrated, 256 * kMiB);
  // Copies into managed memory are real but do not move residency.
  std::string text = "hello";
  ASSERT_EQ(cuMemcpyHtoD(p + 4096, text.data(), text.size()), CUDA_SUCCESS);
  EXPECT_EQ(std::memcmp(reinterpret_cast<void*>(p + 4096), "hello", 5), 0);
  EXPECT_EQ(cuMemFree(p), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(simtest::LiveRanges(), 0);
  cuModuleUnload(m);
}

TEST_F(SimGpuManaged, NeverFailsForCapacityAndWhatCannotFitIsRemote) {
  Init("64GiB");
  CUdeviceptr big = Managed(2 * kCapacity);
  ASSERT_NE(big, 0u);
  ASSERT_EQ(Touch(big), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), kCapacity);
  EXPECT_EQ(simtest::Resident(big), kCapacity);
  EXPECT_EQ(simtest::TrafficOf().remote, kCapacity);
  CUdeviceptr plain;
  ASSERT_EQ(cuMemAlloc(&plain, 512 * kMiB), CUDA_SUCCESS);  // evicts half
  EXPECT_EQ(simtest::Resident(big), 512 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().evicted, 512 * kMiB);
  ASSERT_EQ(cuMemFree(big), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 512 * kMiB);
  ASSERT_EQ(cuMemFree(plain), CUDA_SUCCESS);
}

TEST_F(SimGpuManaged, PlainAllocationInAnotherProcessEvictsAndFailsOnlyOnPlainUsage) {
  Init("64GiB");
  CUdeviceptr p = Managed(768 * kMiB);
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 768 * kMiB);

  simtest::Child a = simtest::Spawn({"alloc", "512"});
  ASSERT_EQ(simtest::ReadLine(a), "ready");  // 256 MiB of ours made way
  EXPECT_EQ(simtest::UsedBytes(), kCapacity);
  EXPECT_EQ(simtest::Resident(p), 512 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().evicted, 256 * kMiB);

  simtest::Child b = simtest::Spawn({"alloc", "600"});
  EXPECT_EQ(simtest::ReadLine(b), "oom");  // 512 + 600 MiB of plain memory cannot fit
  EXPECT_EQ(simtest::Resident(p), 512 * kMiB);
  simtest::Child c = simtest::Spawn({"alloc", "512"});
  ASSERT_EQ(simtest::ReadLine(c), "ready");  // exactly full of plain memory
  EXPECT_EQ(simtest::Resident(p), 0u);
  EXPECT_EQ(simtest::UsedBytes(), kCapacity);

  // Nothing evictable is left: the kernel reads all of it over the bus.
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(p), 0u);
  EXPECT_EQ(simtest::TrafficOf().remote, 768 * kMiB);
  for (simtest::Child* child : {&a, &b, &c}) {
    kill(child->pid, SIGKILL);
    simtest::Wait(*child);
  }
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(cuMemFree(p), CUDA_SUCCESS);
}

TEST_F(SimGpuManaged, EvictionHonoursPreferredLocationThenLeastRecentAccess) {
  Init("64GiB");
  CUdeviceptr host_pref = Managed(256 * kMiB), lru = Managed(256 * kMiB), recent = Managed(256 * kMiB),
              device_pref = Managed(256 * kMiB);
  ASSERT_EQ(Advise(host_pref, 256 * kMiB, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, CU_MEM_LOCATION_TYPE_HOST),
            CUDA_SUCCESS);
  ASSERT_EQ(Advise(device_pref, 256 * kMiB, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, CU_MEM_LOCATION_TYPE_DEVICE, 0),
            CUDA_SUCCESS);
  ASSERT_EQ(Advise(lru, 256 * kMiB, CU_MEM_ADVISE_SET_ACCESSED_BY, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_SUCCESS);
  // Oldest first: the device-preferred range, then lru, then recent, and the
  // host-preferred one last (a prefetch overrides its preference).
  ASSERT_EQ(Touch(device_pref), CUDA_SUCCESS);
  ASSERT_EQ(Touch(lru), CUDA_SUCCESS);
  ASSERT_EQ(Touch(recent), CUDA_SUCCESS);
  ASSERT_EQ(Prefetch(host_pref, 256 * kMiB, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_SUCCESS);
  ASSERT_EQ(simtest::UsedBytes(), kCapacity);

  CUdeviceptr plain[5];
  ASSERT_EQ(cuMemAlloc(&plain[0], 256 * kMiB), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(host_pref), 0u);  // host-preferred goes first, however recent
  EXPECT_EQ(simtest::Resident(lru), 256 * kMiB);
  ASSERT_EQ(cuMemAlloc(&plain[1], 128 * kMiB), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(lru), 128 * kMiB);  // accessed-by protects nothing; part of a range can go
  EXPECT_EQ(simtest::Resident(recent), 256 * kMiB);
  ASSERT_EQ(cuMemAlloc(&plain[2], 256 * kMiB), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(lru), 0u);
  EXPECT_EQ(simtest::Resident(recent), 128 * kMiB);
  EXPECT_EQ(simtest::Resident(device_pref), 256 * kMiB);  // device-preferred goes last, however old
  ASSERT_EQ(cuMemAlloc(&plain[3], 256 * kMiB), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(recent), 0u);
  EXPECT_EQ(simtest::Resident(device_pref), 128 * kMiB);
  EXPECT_EQ(cuMemAlloc(&plain[4], 256 * kMiB), CUDA_ERROR_OUT_OF_MEMORY);  // plain alone would not fit
  EXPECT_EQ(simtest::Resident(device_pref), 128 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().evicted, 896 * kMiB);
  for (int i = 0; i < 4; ++i) cuMemFree(plain[i]);
  for (CUdeviceptr p : {host_pref, lru, recent, device_pref}) cuMemFree(p);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
}

TEST_F(SimGpuManaged, MigrationUsesTheCopyEngineWhileOtherProcessesCompute) {
  Init("512MiB");  // 256 MiB take 500 ms
  CUdeviceptr p = Managed(256 * kMiB);
  simtest::Child spinner = simtest::Spawn({"spinready", "2000", "0.8"});
  ASSERT_EQ(simtest::ReadLine(spinner), "ready");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);
  double took = Ms(t0, std::chrono::steady_clock::now());
  double kernels = std::stod(simtest::ReadLine(spinner));
  simtest::Wait(spinner);
  EXPECT_GE(took, 0.8 * 500);
  EXPECT_LE(took, 500 * 1.3 + 50);
  // 2 ms kernels for 0.8 s: at most 400. Had the migration held the compute
  // timeline, the spinner would have lost 500 ms of it (about 150 kernels).
  EXPECT_GE(kernels, 250);
  EXPECT_EQ(simtest::Resident(p), 256 * kMiB);
  cuMemFree(p);
}

TEST_F(SimGpuManaged, PrefetchMovesDataAndCosts) {
  Init("1GiB");  // 128 MiB take 125 ms
  CUdeviceptr p = Managed(128 * kMiB);
  int where = 0;
  ASSERT_EQ(cuMemRangeGetAttribute(&where, 4, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, p, 128 * kMiB),
            CUDA_SUCCESS);
  EXPECT_EQ(where, CU_DEVICE_INVALID);

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Prefetch(p, 128 * kMiB, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_SUCCESS);
  EXPECT_GE(Ms(t0, std::chrono::steady_clock::now()), 0.8 * 125);
  EXPECT_EQ(simtest::UsedBytes(), 128 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().migrated, 128 * kMiB);
  ASSERT_EQ(cuMemRangeGetAttribute(&where, 4, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, p, 4096), CUDA_SUCCESS);
  EXPECT_EQ(where, 0);
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);  // resident already: just the 1 ms kernel
  EXPECT_LT(Ms(t0, std::chrono::steady_clock::now()), 50);

  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Prefetch(p, 128 * kMiB, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  EXPECT_GE(Ms(t0, std::chrono::steady_clock::now()), 0.8 * 125);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(simtest::TrafficOf().evicted, 128 * kMiB);
  ASSERT_EQ(cuMemRangeGetAttribute(&where, 4, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, p, 4096), CUDA_SUCCESS);
  EXPECT_EQ(where, CU_DEVICE_CPU);

  // Half a range in, then read-mostly: dropping duplicates writes nothing back.
  ASSERT_EQ(Prefetch(p, 64 * kMiB, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(p), 64 * kMiB);
  ASSERT_EQ(Advise(p, 4096, CU_MEM_ADVISE_SET_READ_MOSTLY, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_SUCCESS);
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Prefetch(p, 128 * kMiB, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  EXPECT_LT(Ms(t0, std::chrono::steady_clock::now()), 30);
  EXPECT_EQ(simtest::Resident(p), 0u);
  EXPECT_EQ(simtest::TrafficOf().evicted, 192 * kMiB);

  // Bad arguments.
  EXPECT_EQ(Prefetch(p, 128 * kMiB, CU_MEM_LOCATION_TYPE_DEVICE, 7), CUDA_ERROR_INVALID_VALUE);  // no such device
  CUdeviceptr plain;
  ASSERT_EQ(cuMemAlloc(&plain, kMiB), CUDA_SUCCESS);
  EXPECT_EQ(Prefetch(plain, kMiB, CU_MEM_LOCATION_TYPE_DEVICE, 0), CUDA_ERROR_INVALID_VALUE);
  cuMemFree(plain);
  cuMemFree(p);
}

TEST_F(SimGpuManaged, PreferredHostIsAccessedRemotelyAndNeverResident) {
  Init("1GiB");
  CUdeviceptr p = Managed(128 * kMiB);
  ASSERT_EQ(Advise(p, 128 * kMiB, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  for (int i = 1; i <= 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(Touch(p), CUDA_SUCCESS);
    EXPECT_GE(Ms(t0, std::chrono::steady_clock::now()), 0.8 * 125);  // every launch reads it over the bus
    EXPECT_EQ(simtest::UsedBytes(), 0u);
    EXPECT_EQ(simtest::TrafficOf().remote, i * 128 * kMiB);
  }
  EXPECT_EQ(simtest::TrafficOf().migrated, 0u);

  int value[3] = {0, 0, 0};
  ASSERT_EQ(cuMemRangeGetAttribute(value, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, p, 128 * kMiB), CUDA_SUCCESS);
  EXPECT_EQ(value[0], CU_DEVICE_CPU);
  ASSERT_EQ(Advise(p, kMiB, CU_MEM_ADVISE_SET_ACCESSED_BY, CU_MEM_LOCATION_TYPE_DEVICE, 1), CUDA_SUCCESS);
  void* data[] = {&value[0], &value[1]};
  size_t sizes[] = {8, 4};
  CUmem_range_attribute attrs[] = {CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY};
  ASSERT_EQ(cuMemRangeGetAttributes(data, sizes, attrs, 2, p, kMiB), CUDA_SUCCESS);
  EXPECT_EQ(value[0], 1);
  EXPECT_EQ(value[1], 0);  // the read-mostly answer overwrote the second accessed-by slot
  ASSERT_EQ(Advise(p, kMiB, CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  ASSERT_EQ(cuMemRangeGetAttribute(value, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, p, kMiB), CUDA_SUCCESS);
  EXPECT_EQ(value[0], CU_DEVICE_INVALID);
  EXPECT_EQ(cuMemRangeGetAttribute(value, 8, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, p, kMiB),
            CUDA_ERROR_INVALID_VALUE);
  ASSERT_EQ(Touch(p), CUDA_SUCCESS);  // no preference any more: it migrates
  EXPECT_EQ(simtest::UsedBytes(), 128 * kMiB);
  cuMemFree(p);
}

TEST_F(SimGpuManaged, NvmlPerProcessUsageIncludesResidentManagedMemory) {
  Init("64GiB");
  ASSERT_EQ(nvmlInit_v2(), NVML_SUCCESS);
  CUdeviceptr m = Managed(256 * kMiB), plain;
  ASSERT_EQ(cuMemAlloc(&plain, 64 * kMiB), CUDA_SUCCESS);
  ASSERT_EQ(Touch(m), CUDA_SUCCESS);
  nvmlDevice_t dev;
  ASSERT_EQ(nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
  nvmlProcessInfo_t infos[8];
  unsigned count = 8;
  ASSERT_EQ(nvmlDeviceGetComputeRunningProcesses_v3(dev, &count, infos), NVML_SUCCESS);
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(infos[0].pid, static_cast<unsigned>(getpid()));
  EXPECT_EQ(infos[0].usedGpuMemory, 320 * kMiB);
  nvmlMemory_t mem;
  ASSERT_EQ(nvmlDeviceGetMemoryInfo(dev, &mem), NVML_SUCCESS);
  EXPECT_EQ(mem.used, 320 * kMiB);
  cuMemFree(m);
  cuMemFree(plain);
  nvmlShutdown();
}

TEST_F(SimGpuManaged, KilledProcessRangesAreReclaimed) {
  Init("64GiB");
  simtest::Child holder = simtest::Spawn({"managed", "512"});
  ASSERT_EQ(simtest::ReadLine(holder), "ready");
  EXPECT_EQ(simtest::UsedBytes(), 512 * kMiB);
  EXPECT_EQ(simtest::LiveRanges(), 1);
  EXPECT_EQ(simtest::TrafficOf(holder.pid).migrated, 512 * kMiB);
  kill(holder.pid, SIGKILL);
  simtest::Wait(holder);
  EXPECT_EQ(simtest::UsedBytes(), 0u);  // the query reclaims the corpse
  EXPECT_EQ(simtest::LiveRanges(), 0);
  CUdeviceptr p;
  ASSERT_EQ(cuMemAlloc(&p, kCapacity), CUDA_SUCCESS);  // nothing of it is left to evict
  EXPECT_EQ(simtest::TrafficOf().evicted, 0u);
  cuMemFree(p);
}

TEST_F(SimGpuManaged, PointerArgumentsFromKernelParamsAndExtra) {
  Init("64GiB");
  CUdeviceptr x = Managed(64 * kMiB), y = Managed(32 * kMiB), plain;
  ASSERT_EQ(cuMemAlloc(&plain, kMiB), CUDA_SUCCESS);
  int32_t i = 7;
  double d = 1.5;
  CUdeviceptr interior = x + 4096;  // any pointer into the allocation means all of it
  void* params[] = {&i, &interior, &d, &plain};
  ASSERT_EQ(cuLaunchKernel(mixed_, 1, 1, 1, 32, 1, 1, 0, stream_, params, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(x), 64 * kMiB);
  EXPECT_EQ(simtest::Resident(y), 0u);
  EXPECT_EQ(simtest::UsedBytes(), 65 * kMiB);

  // Packed at natural alignment: i32 at 0, ptr at 8, f64 at 16, ptr at 24.
  alignas(8) unsigned char buffer[32] = {};
  CUdeviceptr stray = 0x1234;  // points at nothing: ignored
  std::memcpy(buffer, &i, 4);
  std::memcpy(buffer + 8, &stray, 8);
  std::memcpy(buffer + 16, &d, 8);
  std::memcpy(buffer + 24, &y, 8);
  size_t size = sizeof buffer;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buffer, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
  ASSERT_EQ(cuLaunchKernel(mixed_, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, extra), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(y), 32 * kMiB);

  EXPECT_EQ(cuLaunchKernel(mixed_, 1, 1, 1, 32, 1, 1, 0, stream_, params, extra), CUDA_ERROR_INVALID_VALUE);
  size = 24;  // too short for the last pointer
  EXPECT_EQ(cuLaunchKernel(mixed_, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, extra), CUDA_ERROR_INVALID_VALUE);
  void* unknown[] = {reinterpret_cast<void*>(0x77), buffer, CU_LAUNCH_PARAM_END};
  EXPECT_EQ(cuLaunchKernel(mixed_, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, unknown), CUDA_ERROR_INVALID_VALUE);

  // cuLaunchKernelEx and cooperative launches read their arguments too.
  ASSERT_EQ(Prefetch(x, 64 * kMiB, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  ASSERT_EQ(Prefetch(y, 32 * kMiB, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  CUlaunchConfig cfg{};
  cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 32;
  cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.hStream = stream_;
  void* one[] = {&x};
  ASSERT_EQ(cuLaunchKernelEx(&cfg, touch_, one, nullptr), CUDA_SUCCESS);
  void* two[] = {&y, &y};
  ASSERT_EQ(cuLaunchCooperativeKernel(touch2_, 1, 1, 1, 32, 1, 1, 0, stream_, two), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(x), 64 * kMiB);
  EXPECT_EQ(simtest::Resident(y), 32 * kMiB);
  EXPECT_EQ(simtest::TrafficOf().migrated, 192 * kMiB);  // y named twice, migrated once
  cuMemFree(x);
  cuMemFree(y);
  cuMemFree(plain);
}

TEST_F(SimGpuManaged, GraphNodesReplayTheirAccesses) {
  Init("64GiB");
  CUdeviceptr x = Managed(64 * kMiB), y = Managed(32 * kMiB), z = Managed(16 * kMiB);
  CUgraph graph;
  ASSERT_EQ(cuGraphCreate(&graph, 0), CUDA_SUCCESS);
  CUDA_KERNEL_NODE_PARAMS p{};
  p.func = touch_;
  p.gridDimX = p.gridDimY = p.gridDimZ = 1;
  p.blockDimX = 32;
  p.blockDimY = p.blockDimZ = 1;
  void* params[] = {&x};
  p.kernelParams = params;
  CUgraphNode node;
  ASSERT_EQ(cuGraphAddKernelNode(&node, graph, nullptr, 0, &p), CUDA_SUCCESS);
  CUgraphExec exec;
  ASSERT_EQ(cuGraphInstantiate(&exec, graph, 0), CUDA_SUCCESS);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
    EXPECT_EQ(simtest::Resident(x), 64 * kMiB);
    ASSERT_EQ(Prefetch(x, 64 * kMiB, CU_MEM_LOCATION_TYPE_HOST), CUDA_SUCCESS);
  }
  EXPECT_EQ(simtest::TrafficOf().migrated, 128 * kMiB);

  // Captured launches and prefetches replay too; capturing runs nothing.
  ASSERT_EQ(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
  void* ys[] = {&y};
  ASSERT_EQ(cuLaunchKernel(touch_, 1, 1, 1, 32, 1, 1, 0, stream_, ys, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuMemPrefetchAsync(z, 16 * kMiB, CUmemLocation{CU_MEM_LOCATION_TYPE_DEVICE, 0}, 0, stream_),
            CUDA_SUCCESS);
  CUgraph captured;
  ASSERT_EQ(cuStreamEndCapture(stream_, &captured), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(y), 0u);
  EXPECT_EQ(simtest::Resident(z), 0u);
  CUgraphExec captured_exec;
  ASSERT_EQ(cuGraphInstantiateWithFlags(&captured_exec, captured, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuGraphLaunch(captured_exec, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::Resident(y), 32 * kMiB);
  EXPECT_EQ(simtest::Resident(z), 16 * kMiB);

  // A node whose allocation is gone touches nothing when it runs.
  ASSERT_EQ(cuMemFree(x), CUDA_SUCCESS);
  uint64_t used = simtest::UsedBytes();
  ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), used);
  cuGraphExecDestroy(exec);
  cuGraphExecDestroy(captured_exec);
  cuGraphDestroy(graph);
  cuGraphDestroy(captured);
  cuMemFree(y);
  cuMemFree(z);
}

TEST_F(SimGpuManaged, FreedBeforeTheKernelRunsIsSkipped) {
  Init("64GiB");
  simgpu::ModuleImage image;
  image.AddKernel("slow", 50000000);  // 50 ms
  CUmodule m;
  CUfunction slow;
  ASSERT_EQ(cuModuleLoadData(&m, image.Text()), CUDA_SUCCESS);
  ASSERT_EQ(cuModuleGetFunction(&slow, m, "slow"), CUDA_SUCCESS);
  CUdeviceptr p = Managed(64 * kMiB);
  ASSERT_EQ(cuLaunchKernel(slow, 1, 1, 1, 32, 1, 1, 0, stream_, nullptr, nullptr), CUDA_SUCCESS);
  void* params[] = {&p};
  ASSERT_EQ(cuLaunchKernel(touch_, 1, 1, 1, 32, 1, 1, 0, stream_, params, nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuMemFree(p), CUDA_SUCCESS);  // while the touching kernel is still queued
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(simtest::TrafficOf().migrated, 0u);
  cuModuleUnload(m);
}

TEST_F(SimGpuManaged, ContextDestroyDropsItsRanges) {
  Init("64GiB");
  CUcontext own;
  ASSERT_EQ(cuCtxCreate(&own, nullptr, 0, 0), CUDA_SUCCESS);
  CUdeviceptr p = Managed(128 * kMiB);
  ASSERT_EQ(cuMemPrefetchAsync(p, 128 * kMiB, CUmemLocation{CU_MEM_LOCATION_TYPE_DEVICE, 0}, 0, nullptr),
            CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 128 * kMiB);
  ASSERT_EQ(cuCtxDestroy(own), CUDA_SUCCESS);
  EXPECT_EQ(simtest::UsedBytes(), 0u);
  EXPECT_EQ(simtest::LiveRanges(), 0);
}

TEST_F(SimGpuManaged, RangeTableFullIsOutOfMemory) {
  Init("64GiB");
  std::vector<CUdeviceptr> ranges;
  CUdeviceptr p;
  CUresult rc;
  while ((rc = cuMemAllocManaged(&p, 4096, CU_MEM_ATTACH_GLOBAL)) == CUDA_SUCCESS) ranges.push_back(p);
  EXPECT_EQ(rc, CUDA_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(ranges.size(), static_cast<size_t>(simgpu::kMaxManagedRanges));
  ASSERT_EQ(cuMemFree(ranges.back()), CUDA_SUCCESS);
  ranges.pop_back();
  ASSERT_EQ(cuMemAllocManaged(&p, 4096, CU_MEM_ATTACH_GLOBAL), CUDA_SUCCESS);
  ranges.push_back(p);
  for (CUdeviceptr r : ranges) cuMemFree(r);
  EXPECT_EQ(simtest::LiveRanges(), 0);
}

TEST(SimGpuManagedConfig, BadMigrationBandwidthIsReported) {
  setenv("TGS_SIM_SHM", ("tgs-simtest-badbw-" + std::to_string(getpid())).c_str(), 1);
  setenv("TGS_SIM_MIGRATION_BANDWIDTH", "fast", 1);
  EXPECT_EQ(cuInit(0), CUDA_ERROR_INVALID_VALUE);
  setenv("TGS_SIM_MIGRATION_BANDWIDTH", "0", 1);
  EXPECT_EQ(cuInit(0), CUDA_ERROR_INVALID_VALUE);
}

TEST(SimGpuModule, ParamsDeclareArgumentTypes) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  CUmodule m;
  EXPECT_EQ(cuModuleLoadData(&m, "simgpu-module 1\nkernel a 10 params ptr q32\n"), CUDA_ERROR_INVALID_IMAGE);
  EXPECT_EQ(cuModuleLoadData(&m, "simgpu-module 1\nkernel a 10 extra\n"), CUDA_ERROR_INVALID_IMAGE);
  ASSERT_EQ(cuModuleLoadData(&m, "simgpu-module 1\nkernel a 10 params ptr i32 u32 i64 u64 f32 f64\nkernel b 5\n"),
            CUDA_SUCCESS);
  EXPECT_EQ(cuModuleUnload(m), CUDA_SUCCESS);
  simgpu::ModuleImage image;
  image.AddKernel("c", 10, {"ptr", "f32"}).AddKernel("d", 10, {});
  EXPECT_STREQ(image.Text(), "simgpu-module 1\nkernel c 10 params ptr f32\nkernel d 10 params\n");
  ASSERT_EQ(cuModuleLoadData(&m, image.Text()), CUDA_SUCCESS);
  EXPECT_EQ(cuModuleUnload(m), CUDA_SUCCESS);
}

}  // namespace
