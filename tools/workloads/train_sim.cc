// tgs-train-sim: a training-like job. Each iteration launches K kernels on
// one stream and waits for them, like a framework's forward/backward step
// followed by a loss read-back; throughput is iterations per second.
#include <unistd.h>

#include <vector>

#include "tools/workloads/workload_common.h"

namespace {

constexpr char kProgram[] = "tgs-train-sim";
constexpr char kUsage[] =
    "usage: tgs-train-sim [options]\n"
    "A training-like CUDA job: iterations of K kernel launches + stream synchronize.\n"
    "  --kernels K            kernels per iteration (default 8)\n"
    "  --blocks B             thread blocks per kernel (default 264)\n"
    "  --kernel-us U          device time of one kernel in microseconds on an idle GPU (default 2000)\n"
    "  --cpu-gap-us G         host time between iterations in microseconds (default 0)\n"
    "  --mem SIZE             device memory to allocate at start, e.g. 256MiB (default 256MiB)\n"
    "  --working-set SIZE     also allocate SIZE as --buffers buffers that the kernels read, one\n"
    "                         buffer per kernel in turn, so every iteration touches all of it (default 0)\n"
    "  --buffers N            buffers of the working set (default 8)\n"
    "  --device N             CUDA device ordinal to run on (default 0)\n"
    "  --duration S           run for S seconds (default 10)\n"
    "  --iterations N         run N iterations instead of a duration\n"
    "  --report-interval S    seconds between progress lines (default 1)\n"
    "Prints 'iters/s=X total=N t=T' per interval (T: CLOCK_MONOTONIC seconds) and a final\n"
    "'train-sim: iterations=N seconds=T iters_per_sec=X'. Exit status 2: out of memory.\n";

}  // namespace

int main(int argc, char** argv) {
  int64_t kernels = 8, blocks = 264, iterations = 0, device = 0, buffers = 8;
  double kernel_us = 2000, gap_us = 0, duration = 10, report = 1;
  uint64_t mem = 256ULL << 20, working_set = 0;
  workload::Options opts(kProgram, kUsage);
  opts.Add("--kernels", workload::Integer(&kernels, 1, 1 << 20));
  opts.Add("--blocks", workload::Integer(&blocks, 1, 1LL << 31));
  opts.Add("--kernel-us", workload::Number(&kernel_us, 0, 1e9));
  opts.Add("--cpu-gap-us", workload::Number(&gap_us, 0, 1e9));
  opts.Add("--mem", workload::Bytes(&mem));
  opts.Add("--device", workload::Integer(&device, 0, 1023));
  opts.Add("--working-set", workload::Bytes(&working_set));
  opts.Add("--buffers", workload::Integer(&buffers, 1, 1 << 16));
  opts.Add("--duration", workload::Number(&duration, 0.001, 1e7));
  opts.Add("--iterations", workload::Integer(&iterations, 1, 1LL << 40));
  opts.Add("--report-interval", workload::Number(&report, 0.01, 1e6));
  opts.Parse(argc, argv);

  workload::Device d = workload::SetUp(kProgram, mem, blocks, kernel_us, static_cast<int>(device));
  std::vector<CUdeviceptr> set;
  if (working_set > 0) {
    uint64_t each = (working_set + static_cast<uint64_t>(buffers) - 1) / static_cast<uint64_t>(buffers);
    for (int64_t i = 0; i < buffers; ++i) set.push_back(workload::Allocate(kProgram, each));
  }
  double start = workload::NowSeconds();
  double next_report = start + report;
  int64_t done = 0, done_at_report = 0;
  double last_report = start;
  for (;;) {
    if (iterations > 0 ? done >= iterations : workload::NowSeconds() - start >= duration) break;
    for (int64_t k = 0; k < kernels; ++k) {
      if (set.empty()) {
        WORKLOAD_CHECK(kProgram, cuLaunchKernel(d.kernel, static_cast<unsigned>(blocks), 1, 1, 128, 1, 1, 0,
                                                d.stream, nullptr, nullptr));
      } else {
        CUdeviceptr buffer = set[static_cast<size_t>(done * kernels + k) % set.size()];
        void* args[] = {&buffer};
        WORKLOAD_CHECK(kProgram, cuLaunchKernel(d.kernel_on, static_cast<unsigned>(blocks), 1, 1, 128, 1, 1, 0,
                                                d.stream, args, nullptr));
      }
    }
    WORKLOAD_CHECK(kProgram, cuStreamSynchronize(d.stream));
    ++done;
    if (gap_us > 0) usleep(static_cast<useconds_t>(gap_us));
    double now = workload::NowSeconds();
    if (now >= next_report) {
      std::printf("iters/s=%.1f total=%lld t=%.4f\n", static_cast<double>(done - done_at_report) / (now - last_report),
                  static_cast<long long>(done), now);
      std::fflush(stdout);
      done_at_report = done;
      last_report = now;
      next_report = now + report;
    }
  }
  double seconds = workload::NowSeconds() - start;
  std::printf("train-sim: iterations=%lld seconds=%.3f iters_per_sec=%.2f\n", static_cast<long long>(done), seconds,
              static_cast<double>(done) / seconds);
  WORKLOAD_CHECK(kProgram, cuStreamDestroy(d.stream));
  for (CUdeviceptr p : set) WORKLOAD_CHECK(kProgram, cuMemFree(p));
  if (d.memory != 0) WORKLOAD_CHECK(kProgram, cuMemFree(d.memory));
  WORKLOAD_CHECK(kProgram, cuModuleUnload(d.module));
  WORKLOAD_CHECK(kProgram, cuDevicePrimaryCtxRelease(d.device));
  return 0;
}
