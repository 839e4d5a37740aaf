// tgs-infer-sim: an inference-like job. Requests arrive open-loop at a fixed
// rate whether or not earlier ones finished; each runs K kernels. Latency is
// measured from the scheduled arrival to completion (a host callback queued
// after the request's kernels), so queueing delay counts, as users see it.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "tools/simgpu/simgpu_module.h"
#include "tools/workloads/workload_common.h"

namespace {

constexpr char kProgram[] = "tgs-infer-sim";
constexpr char kUsage[] =
    "usage: tgs-infer-sim [options]\n"
    "An inference-like CUDA job: requests arrive at a fixed rate (open loop), each runs K kernels.\n"
    "  --rate R               requests per second (default 50)\n"
    "  --kernels K            kernels per request (default 4)\n"
    "  --blocks B             thread blocks per kernel (default 264)\n"
    "  --kernel-us U          device time of one kernel in microseconds on an idle GPU (default 2000)\n"
    "  --mem SIZE             device memory to allocate at start (default 256MiB)\n"
    "  --duration S           run for S seconds (default 10)\n"
    "  --requests N           issue N requests instead of a duration\n"
    "  --report-interval S    seconds between progress lines (default 1)\n"
    "  --warmup S             leave requests of the first S seconds out of the final percentiles (default 0)\n"
    "Prints 'requests=N p50_ms=.. p99_ms=.. t=T' per interval (T: CLOCK_MONOTONIC seconds) and a final\n"
    "'infer-sim: requests=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..'. Exit status 2: out of memory.\n";


struct Recorder {
  std::mutex mu;  // guards latencies, window
  std::vector<double> latencies;
  std::vector<double> window;
};

struct Pending {
  Recorder* recorder;
  double arrival;
  bool counted;  // after the warm-up: part of the final percentiles
};

void CUDA_CB Complete(void* data) {
  auto* p = static_cast<Pending*>(data);
  double latency = workload::NowSeconds() - p->arrival;
  {
    std::lock_guard<std::mutex> guard(p->recorder->mu);
    if (p->counted) p->recorder->latencies.push_back(latency);
    p->recorder->window.push_back(latency);
  }
  delete p;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)] * 1000.0;
}

void SleepUntil(double t) {
  double now = workload::NowSeconds();
  if (t <= now) return;
  timespec ts{static_cast<time_t>(t - now), static_cast<long>((t - now - static_cast<double>(static_cast<time_t>(t - now))) * 1e9)};
  nanosleep(&ts, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t kernels = 4, blocks = 264, requests = 0;
  double rate = 50, kernel_us = 2000, duration = 10, report = 1, warmup = 0;
  uint64_t mem = 256ULL << 20;
  workload::Options opts(kProgram, kUsage);
  opts.Add("--rate", workload::Number(&rate, 0.001, 1e6));
  opts.Add("--kernels", workload::Integer(&kernels, 1, 1 << 20));
  opts.Add("--blocks", workload::Integer(&blocks, 1, 1LL << 31));
  opts.Add("--kernel-us", workload::Number(&kernel_us, 0, 1e9));
  opts.Add("--mem", workload::Bytes(&mem));
  opts.Add("--duration", workload::Number(&duration, 0.001, 1e7));
  opts.Add("--requests", workload::Integer(&requests, 1, 1LL << 40));
  opts.Add("--report-interval", workload::Number(&report, 0.01, 1e6));
  opts.Add("--warmup", workload::Number(&warmup, 0, 1e6));
  opts.Parse(argc, argv);

  workload::Device d = workload::SetUp(kProgram, mem, blocks, kernel_us);
  Recorder recorder;
  double start = workload::NowSeconds();
  double next_report = start + report;
  int64_t issued = 0;
  for (;;) {
    double arrival = start + static_cast<double>(issued) / rate;
    if (requests > 0 ? issued >= requests : arrival - start >= duration) break;
    while (workload::NowSeconds() < arrival) {
      SleepUntil(std::min(arrival, next_report));
      double now = workload::NowSeconds();
      if (now >= next_report) {
        std::vector<double> window;
        size_t total;
        {
          std::lock_guard<std::mutex> guard(recorder.mu);
          window.swap(recorder.window);
          total = recorder.latencies.size();
        }
        std::printf("requests=%zu p50_ms=%.2f p99_ms=%.2f t=%.4f\n", total, Percentile(window, 0.5),
                    Percentile(window, 0.99), now);
        std::fflush(stdout);
        next_report = now + report;
      }
    }
    for (int64_t k = 0; k < kernels; ++k) {
      WORKLOAD_CHECK(kProgram, cuLaunchKernel(d.kernel, static_cast<unsigned>(blocks), 1, 1, 128, 1, 1, 0, d.stream,
                                              nullptr, nullptr));
    }
    WORKLOAD_CHECK(kProgram,
                   cuLaunchHostFunc(d.stream, Complete, new Pending{&recorder, arrival, arrival - start >= warmup}));
    ++issued;
  }
  WORKLOAD_CHECK(kProgram, cuStreamSynchronize(d.stream));
  std::vector<double> all;
  {
    std::lock_guard<std::mutex> guard(recorder.mu);
    all = recorder.latencies;
  }
  double max_ms = all.empty() ? 0 : *std::max_element(all.begin(), all.end()) * 1000.0;
  std::printf("infer-sim: requests=%zu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", all.size(),
              Percentile(all, 0.5), Percentile(all, 0.9), Percentile(all, 0.99), max_ms);
  WORKLOAD_CHECK(kProgram, cuStreamDestroy(d.stream));
  if (d.memory != 0) WORKLOAD_CHECK(kProgram, cuMemFree(d.memory));
  WORKLOAD_CHECK(kProgram, cuModuleUnload(d.module));
  WORKLOAD_CHECK(kProgram, cuDevicePrimaryCtxRelease(d.device));
  return 0;
}
