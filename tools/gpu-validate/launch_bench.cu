// Per-launch cost of a tiny kernel, for the shim-overhead comparison in run.sh.
//
// Two numbers, each the median over repetitions:
//   enqueue_ns    host time of one cudaLaunchKernel (<<<>>>) in a burst of
//                 --burst launches, fewer than the driver's queue holds, so
//                 the launches never wait for the GPU: this is the CPU path
//                 the shim adds to (its hook sits on every launch);
//   roundtrip_us  launch + cudaStreamSynchronize of one kernel: what a
//                 synchronising caller (an inference request) sees, including
//                 the shim's synchronisation hooks.
// Prints one JSON object on stdout. Plain cudaMalloc only (no managed memory).
//
// Build: nvcc -O2 -std=c++17 -arch=native -o launch_bench launch_bench.cu
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

__global__ void Tiny(int* p) {
  if (p != nullptr) p[threadIdx.x] += 1;
}

bool Check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "launch_bench: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = (v.size() - 1) * q / 100.0;
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

using Clock = std::chrono::steady_clock;
double NsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

struct Options {
  int bursts = 300;
  int burst = 256;
  int roundtrips = 2000;
  std::string label = "unnamed";
};

bool Parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](int& out) {
      if (i + 1 >= argc) return false;
      out = std::atoi(argv[++i]);
      return out > 0;
    };
    if (a == "--bursts") {
      if (!next(o.bursts)) return false;
    } else if (a == "--burst") {
      if (!next(o.burst) || o.burst > 512) return false;  // stay below the driver's launch queue
    } else if (a == "--roundtrips") {
      if (!next(o.roundtrips)) return false;
    } else if (a == "--label" && i + 1 < argc) {
      o.label = argv[++i];
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, o)) {
    std::fprintf(stderr, "usage: launch_bench [--bursts N] [--burst N<=512] [--roundtrips N] [--label TEXT]\n");
    return 64;
  }
  int* d = nullptr;
  if (!Check(cudaMalloc(&d, 32 * sizeof(int)), "cudaMalloc") || !Check(cudaMemset(d, 0, 32 * sizeof(int)), "cudaMemset"))
    return 1;
  for (int i = 0; i < 2000; ++i) Tiny<<<1, 32>>>(d);  // warm up: module load, queues, caches
  if (!Check(cudaGetLastError(), "launch") || !Check(cudaDeviceSynchronize(), "warm-up")) return 1;

  std::vector<double> enqueue;
  for (int b = 0; b < o.bursts; ++b) {
    auto t0 = Clock::now();
    for (int i = 0; i < o.burst; ++i) Tiny<<<1, 32>>>(d);
    enqueue.push_back(NsSince(t0) / o.burst);
    if (!Check(cudaDeviceSynchronize(), "burst")) return 1;  // drained outside the timing
  }
  std::vector<double> roundtrip;
  for (int r = 0; r < o.roundtrips; ++r) {
    auto t0 = Clock::now();
    Tiny<<<1, 32>>>(d);
    if (!Check(cudaStreamSynchronize(nullptr), "roundtrip")) return 1;
    roundtrip.push_back(NsSince(t0) / 1e3);
  }
  if (!Check(cudaGetLastError(), "launch")) return 1;
  int h[32];
  if (!Check(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost), "cudaMemcpy")) return 1;
  long expected = 2000L + static_cast<long>(o.bursts) * o.burst + o.roundtrips;
  bool correct = h[0] == expected && h[31] == expected;
  cudaFree(d);

  std::printf(
      "{\"label\": \"%s\", \"correct\": %s, \"launches\": %ld, "
      "\"enqueue_ns\": {\"p10\": %.1f, \"p50\": %.1f, \"p90\": %.1f}, "
      "\"roundtrip_us\": {\"p10\": %.2f, \"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f}}\n",
      o.label.c_str(), correct ? "true" : "false", expected, Percentile(enqueue, 10), Percentile(enqueue, 50),
      Percentile(enqueue, 90), Percentile(roundtrip, 10), Percentile(roundtrip, 50), Percentile(roundtrip, 90),
      Percentile(roundtrip, 99));
  return correct ? 0 : 1;
}
