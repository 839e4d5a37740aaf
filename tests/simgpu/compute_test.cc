#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "tests/simgpu/sim_env.h"
#include "tools/simgpu/simgpu_module.h"

namespace {

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Device time is exact; what the host observes can only be later, by however
// long a loaded machine takes to wake the waiting thread. So: never shorter,
// and not much longer.
#define EXPECT_TOOK(ms, expected)            \
  do {                                       \
    double took_ = (ms);                     \
    EXPECT_GE(took_, (expected) - 0.3);      \
    EXPECT_LE(took_, (expected) * 1.25 + 3); \
  } while (0)

class SimGpuCompute : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(simtest::InitPrimary(), nullptr);
    simgpu::ModuleImage image;
    // 132 SMs: a 132-block launch is one wave.
    image.AddKernel("k5ms", 5000000).AddKernel("k2ms", 2000000).AddKernel("k1ms", 1000000);
    ASSERT_EQ(cuModuleLoadData(&module_, image.Text()), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&k5_, module_, "k5ms"), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&k2_, module_, "k2ms"), CUDA_SUCCESS);
    ASSERT_EQ(cuModuleGetFunction(&k1_, module_, "k1ms"), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  }
  void TearDown() override {
    cuStreamDestroy(stream_);
    cuModuleUnload(module_);
  }
  CUresult Launch(CUfunction f, unsigned blocks, CUstream s) {
    return cuLaunchKernel(f, blocks, 1, 1, 256, 1, 1, 0, s, nullptr, nullptr);
  }
  CUmodule module_ = nullptr;
  CUfunction k5_ = nullptr, k2_ = nullptr, k1_ = nullptr;
  CUstream stream_ = nullptr;
};

TEST(SimGpuModule, RejectsForeignImages) {
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  CUmodule m;
  EXPECT_EQ(cuModuleLoadData(&m, "\x7f" "ELF binary"), CUDA_ERROR_INVALID_IMAGE);
  EXPECT_EQ(cuModuleLoadData(&m, "simgpu-module 1\nkernel a\n"), CUDA_ERROR_INVALID_IMAGE);
  ASSERT_EQ(cuModuleLoadData(&m, "simgpu-module 1\nkernel a 10\n"), CUDA_SUCCESS);
  CUfunction f;
  EXPECT_EQ(cuModuleGetFunction(&f, m, "b"), CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(cuModuleUnload(m), CUDA_SUCCESS);
}

TEST_F(SimGpuCompute, KernelTakesItsDeviceTimeAndLaunchIsAsync) {
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Launch(k5_, 132, stream_), CUDA_SUCCESS);
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(cuStreamQuery(stream_), CUDA_ERROR_NOT_READY);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_LT(Ms(t0, t1), 2.5);  // queued, not executed
  EXPECT_TOOK(Ms(t0, t2), 5.0);
  // Two waves take twice as long.
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Launch(k5_, 133, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_TOOK(Ms(t0, std::chrono::steady_clock::now()), 10.0);
  EXPECT_EQ(cuStreamQuery(stream_), CUDA_SUCCESS);
}

TEST_F(SimGpuCompute, EventsMeasureDeviceTime) {
  CUevent a, b, untimed;
  ASSERT_EQ(cuEventCreate(&a, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuEventCreate(&b, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuEventCreate(&untimed, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(a, stream_), CUDA_SUCCESS);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Launch(k2_, 100, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(b, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(untimed, stream_), CUDA_SUCCESS);
  EXPECT_EQ(cuEventQuery(b), CUDA_ERROR_NOT_READY);
  float ms = 0;
  EXPECT_EQ(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_NOT_READY);
  ASSERT_EQ(cuEventSynchronize(b), CUDA_SUCCESS);
  ASSERT_EQ(cuEventElapsedTime(&ms, a, b), CUDA_SUCCESS);
  EXPECT_NEAR(ms, 8.0, 0.5);
  ASSERT_EQ(cuEventSynchronize(untimed), CUDA_SUCCESS);
  EXPECT_EQ(cuEventElapsedTime(&ms, a, untimed), CUDA_ERROR_INVALID_HANDLE);
  cuEventDestroy(a);
  cuEventDestroy(b);
  cuEventDestroy(untimed);
}

TEST_F(SimGpuCompute, StreamsOfOneProcessShareTheDevice) {
  CUstream other;
  ASSERT_EQ(cuStreamCreate(&other, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Launch(k2_, 132, stream_), CUDA_SUCCESS);
    ASSERT_EQ(Launch(k2_, 132, other), CUDA_SUCCESS);
  }
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  EXPECT_TOOK(Ms(t0, std::chrono::steady_clock::now()), 12.0);  // one kernel at a time
  cuStreamDestroy(other);
}

TEST_F(SimGpuCompute, LegacyStreamOrdersBlockingStreams) {
  CUstream blocking;
  ASSERT_EQ(cuStreamCreate(&blocking, CU_STREAM_DEFAULT), CUDA_SUCCESS);
  std::atomic<int> order{0};
  int seen_by_null = -1;
  ASSERT_EQ(Launch(k5_, 132, blocking), CUDA_SUCCESS);
  ASSERT_EQ(cuLaunchHostFunc(
                blocking, [](void* p) { static_cast<std::atomic<int>*>(p)->store(1); }, &order),
            CUDA_SUCCESS);
  struct Probe {
    std::atomic<int>* order;
    int* seen;
  } probe{&order, &seen_by_null};
  ASSERT_EQ(cuLaunchHostFunc(
                nullptr, [](void* p) { auto* q = static_cast<Probe*>(p); *q->seen = q->order->load(); }, &probe),
            CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  EXPECT_EQ(seen_by_null, 1);  // NULL-stream work waited for the blocking stream
  cuStreamDestroy(blocking);
}

TEST_F(SimGpuCompute, GraphLaunchExecutesItsKernels) {
  CUgraph graph;
  ASSERT_EQ(cuGraphCreate(&graph, 0), CUDA_SUCCESS);
  CUDA_KERNEL_NODE_PARAMS p{};
  p.func = k2_;
  p.gridDimX = 132;
  p.gridDimY = p.gridDimZ = 1;
  p.blockDimX = 128;
  p.blockDimY = p.blockDimZ = 1;
  CUgraphNode a, b, c, host;
  ASSERT_EQ(cuGraphAddKernelNode(&a, graph, nullptr, 0, &p), CUDA_SUCCESS);
  ASSERT_EQ(cuGraphAddKernelNode(&b, graph, &a, 1, &p), CUDA_SUCCESS);
  ASSERT_EQ(cuGraphAddKernelNode(&c, graph, &b, 1, &p), CUDA_SUCCESS);
  std::atomic<int> ran{0};
  CUDA_HOST_NODE_PARAMS hp{[](void* d) { static_cast<std::atomic<int>*>(d)->fetch_add(1); }, &ran};
  ASSERT_EQ(cuGraphAddHostNode(&host, graph, &c, 1, &hp), CUDA_SUCCESS);
  size_t n = 0;
  ASSERT_EQ(cuGraphGetNodes(graph, nullptr, &n), CUDA_SUCCESS);
  EXPECT_EQ(n, 4u);
  CUgraphExec exec;
  ASSERT_EQ(cuGraphInstantiate(&exec, graph, 0), CUDA_SUCCESS);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_TOOK(Ms(t0, std::chrono::steady_clock::now()), 12.0);
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(cuGraphExecDestroy(exec), CUDA_SUCCESS);
  EXPECT_EQ(cuGraphDestroy(graph), CUDA_SUCCESS);
}

TEST_F(SimGpuCompute, StreamCaptureRecordsInsteadOfExecuting) {
  ASSERT_EQ(cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
  CUstreamCaptureStatus status;
  ASSERT_EQ(cuStreamIsCapturing(stream_, &status), CUDA_SUCCESS);
  EXPECT_EQ(status, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Launch(k1_, 132, stream_), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamQuery(stream_), CUDA_SUCCESS);  // nothing was queued
  CUgraph graph;
  ASSERT_EQ(cuStreamEndCapture(stream_, &graph), CUDA_SUCCESS);
  EXPECT_LT(Ms(t0, std::chrono::steady_clock::now()), 2.5);
  size_t n = 0;
  ASSERT_EQ(cuGraphGetNodes(graph, nullptr, &n), CUDA_SUCCESS);
  EXPECT_EQ(n, 5u);
  CUgraphExec exec;
  ASSERT_EQ(cuGraphInstantiateWithFlags(&exec, graph, 0), CUDA_SUCCESS);
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(cuGraphLaunch(exec, stream_), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
  EXPECT_TOOK(Ms(t0, std::chrono::steady_clock::now()), 5.0);
  cuGraphExecDestroy(exec);
  cuGraphDestroy(graph);
}

TEST_F(SimGpuCompute, BadLaunchArgumentsAreErrors) {
  EXPECT_EQ(Launch(nullptr, 1, stream_), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(Launch(k1_, 0, stream_), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuLaunchKernel(k1_, 1, 1, 1, 2048, 1, 1, 0, stream_, nullptr, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuLaunchKernel(k1_, 1, 1, 1, 32, 1, 1, 0, reinterpret_cast<CUstream>(0x1234), nullptr, nullptr),
            CUDA_ERROR_INVALID_HANDLE);
  CUlaunchConfig cfg{};
  cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 32;
  cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.hStream = stream_;
  EXPECT_EQ(cuLaunchKernelEx(&cfg, k1_, nullptr, nullptr), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(stream_), CUDA_SUCCESS);
}

}  // namespace

namespace {

// One kernel of one full wave (132 blocks, 5 ms per wave), timed on the host.
double OneWaveMs() {
  simgpu::ModuleImage image;
  image.AddKernel("k5ms", 5000000);
  CUmodule m;
  CUfunction k;
  CUstream s;
  if (cuModuleLoadData(&m, image.Text()) != CUDA_SUCCESS || cuModuleGetFunction(&k, m, "k5ms") != CUDA_SUCCESS ||
      cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) {
    return -1;
  }
  auto t0 = std::chrono::steady_clock::now();
  cuLaunchKernel(k, 132, 1, 1, 256, 1, 1, 0, s, nullptr, nullptr);
  cuStreamSynchronize(s);
  return Ms(t0, std::chrono::steady_clock::now());
}

// Under the simulated MPS daemon, CUDA_MPS_ACTIVE_THREAD_PERCENTAGE limits the
// SMs a client's kernels use: at 50% a full wave needs two.
TEST(SimGpuMps, ActiveThreadPercentageLimitsTheClientsSms) {
  setenv("TGS_SIM_MPS", "1", 1);
  setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "50", 1);
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  EXPECT_TOOK(OneWaveMs(), 10.0);
}

// Without an MPS daemon the variable means nothing, as on a real node.
TEST(SimGpuMps, WithoutTheDaemonThePercentageIsIgnored) {
  setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "50", 1);
  ASSERT_NE(simtest::InitPrimary(), nullptr);
  EXPECT_TOOK(OneWaveMs(), 5.0);
}

TEST(SimGpuMps, ABadPercentageFailsCuInit) {
  simtest::SegmentName();
  setenv("TGS_SIM_MPS", "1", 1);
  setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "150", 1);
  EXPECT_EQ(cuInit(0), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
